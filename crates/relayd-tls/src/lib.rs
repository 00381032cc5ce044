//! relayd's TLS building blocks, on rustls with the aws-lc-rs provider.
//!
//! This crate knows TLS and relayd.conf(5)'s `tls` options, nothing of
//! processes or sockets beyond what a handshake needs. The daemon wires it
//! up: the parent checks key files (`files`), the ca processes hold the
//! private keys (`sign::KeyStore`, `inspect::mint`), the relays build their
//! rustls configurations (`options`, `server`, `client`) with keys that ask
//! the ca to sign (`sign::RemoteKey`), accept with the signature off the
//! runtime thread (`accept`), and share session ticket keys (`tickets`).
//! See README.md for the API in one page.

pub mod accept;
pub mod client;
pub mod files;
pub mod inspect;
pub mod keys;
pub mod options;
pub mod server;
pub mod sign;
pub mod sni;
pub mod tickets;

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod handshake_tests;

pub use keys::KeyId;
pub use options::{settings, OptionError, TlsSettings, Warning};
