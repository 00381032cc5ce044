//! Remote signing, relayd's privilege separation for TLS: no relay process
//! holds a private key, the ca process makes every signature.
//!
//! - ca side: [`KeyStore`] holds private keys by [`KeyId`] and signs with a
//!   scheme only when the scheme fits the key. It offers no decryption.
//! - relay side: [`RemoteKey`] is a rustls `SigningKey` that holds only the
//!   public key and asks a [`KeySigner`] for each signature.
//!   [`ChannelSigner`] is that signer over any request channel (the daemon's
//!   imsg channel to ca N): requests carry an id, the wait is bounded, late
//!   answers are discarded by id.
//!
//! rustls signs synchronously while it processes the ClientHello, so a
//! signer blocks its thread: [`crate::accept`] runs that step on tokio's
//! blocking pool.

mod pending;
mod remote;
mod store;

pub use pending::{ChannelSigner, SendRequest, SignRequest, DEFAULT_SIGN_TIMEOUT};
pub use remote::{sign_error, RemoteKey, RemoteSigner};
pub use store::KeyStore;

use crate::KeyId;
use rustls::SignatureScheme;
use std::fmt::Debug;
use std::time::Duration;

/// Makes signatures with keys held elsewhere. `sign` blocks until the
/// signature is there or the signer's deadline passed.
pub trait KeySigner: Send + Sync + Debug {
    fn sign(
        &self,
        key: &KeyId,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, SignError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("no private key {0} in the ca")]
    UnknownKey(KeyId),
    #[error("key {key} cannot sign with {scheme:?}")]
    SchemeMismatch { key: KeyId, scheme: SignatureScheme },
    #[error("the ca did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the channel to the ca is closed")]
    ChannelClosed,
    #[error("signing failed: {0}")]
    Failed(String),
}
