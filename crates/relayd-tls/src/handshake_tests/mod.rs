//! Tests through real rustls handshakes over 127.0.0.1, one file per
//! part of the crate.

mod accept;
mod client;
mod files;
mod inspect;
mod signing;
mod sni;
mod tickets;
