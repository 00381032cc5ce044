//! TLS inspection (`tls ca cert` + `tls ca key`): the relay presents the
//! client a copy of the backend's certificate that keeps its subject,
//! serial, validity, subjectAltNames and other extensions, but carries the
//! relay's own public key and the CA's subject as issuer, and is signed by
//! the CA key. The relay calls [`mint`] with a signer that asks the ca
//! process, which alone holds the CA key, and keeps what it got in a
//! [`MintedCache`] per backend certificate.

mod cache;
mod mint;

pub use cache::{backend_fingerprint, MintedCache, DEFAULT_CACHE_SIZE};
pub use mint::{mint, relay_public_key, InspectError, InspectionCa};
