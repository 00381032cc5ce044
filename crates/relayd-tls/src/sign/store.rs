//! The ca side: private keys by key id, and the one operation on them.

use super::{KeySigner, SignError};
use crate::keys::{self, KeyError};
use crate::KeyId;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Private keys of the ca process, by the hash of their public key.
#[derive(Default)]
pub struct KeyStore {
    keys: HashMap<KeyId, Arc<dyn SigningKey>>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// Adds a private key; the id is the hash of its public key, the same
    /// the relay computes from the certificate.
    pub fn insert(&mut self, key: &PrivateKeyDer<'_>) -> Result<KeyId, KeyError> {
        let signing = keys::signing_key(key)?;
        let public = signing
            .public_key()
            .ok_or_else(|| KeyError::Unusable("no public key".into()))?;
        let id = KeyId::of_public_key(public.as_ref());
        self.keys.insert(id, signing);
        Ok(id)
    }

    pub fn contains(&self, key: &KeyId) -> bool {
        self.keys.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Drops every key (reload: the parent sends the new set).
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// Signs `message` with `key` using `scheme`, if the scheme fits the
    /// key (an ECDSA P-256 key makes only ECDSA_NISTP256_SHA256, an RSA key
    /// only RSA schemes).
    pub fn sign(
        &self,
        key: &KeyId,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        let signing = self.keys.get(key).ok_or(SignError::UnknownKey(*key))?;
        let signer = signing
            .choose_scheme(&[scheme])
            .ok_or(SignError::SchemeMismatch { key: *key, scheme })?;
        signer
            .sign(message)
            .map_err(|e| SignError::Failed(e.to_string()))
    }
}

/// A store answers in-process: what tests and the benchmark's baseline use.
impl KeySigner for KeyStore {
    fn sign(
        &self,
        key: &KeyId,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        KeyStore::sign(self, key, scheme, message)
    }
}
