//! The relay side: a rustls signing key that holds only the public key.

use super::KeySigner;
use crate::keys::{self, KeyError, KeyKind};
use crate::KeyId;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use std::fmt;
use std::sync::Arc;

/// A key whose private half is in the ca: each signature is asked of
/// `signer` by key id.
#[derive(Clone)]
pub struct RemoteKey {
    key_id: KeyId,
    kind: KeyKind,
    public_key: SubjectPublicKeyInfoDer<'static>,
    signer: Arc<dyn KeySigner>,
}

impl fmt::Debug for RemoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKey")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.kind.algorithm)
            .finish_non_exhaustive()
    }
}

impl RemoteKey {
    /// The remote key of a certificate's public key.
    pub fn for_certificate(
        cert: &CertificateDer<'_>,
        signer: Arc<dyn KeySigner>,
    ) -> Result<RemoteKey, KeyError> {
        RemoteKey::for_public_key(keys::public_key(cert)?, signer)
    }

    pub fn for_public_key(
        public_key: SubjectPublicKeyInfoDer<'static>,
        signer: Arc<dyn KeySigner>,
    ) -> Result<RemoteKey, KeyError> {
        Ok(RemoteKey {
            key_id: KeyId::of_public_key(public_key.as_ref()),
            kind: KeyKind::of_public_key(public_key.as_ref())?,
            public_key,
            signer,
        })
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The chain with this key, and an OCSP response to staple if any
    /// (an empty staple file means none, as relayd reads it).
    pub fn certified(
        self,
        chain: Vec<CertificateDer<'static>>,
        ocsp: Option<Vec<u8>>,
    ) -> CertifiedKey {
        let mut certified = CertifiedKey::new(chain, Arc::new(self));
        certified.ocsp = ocsp.filter(|staple| !staple.is_empty());
        certified
    }
}

impl SigningKey for RemoteKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = self
            .kind
            .schemes
            .iter()
            .find(|scheme| offered.contains(scheme))?;
        Some(Box::new(RemoteSigner {
            key_id: self.key_id,
            scheme: *scheme,
            signer: self.signer.clone(),
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(self.public_key.clone())
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.kind.algorithm
    }
}

/// One handshake's signer: the scheme is chosen, the signature is asked.
pub struct RemoteSigner {
    key_id: KeyId,
    scheme: SignatureScheme,
    signer: Arc<dyn KeySigner>,
}

impl fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("key_id", &self.key_id)
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl Signer for RemoteSigner {
    /// A failure keeps its [`SignError`] (as `rustls::Error::Other`), so
    /// whoever sees the handshake fail can tell the ca's fault from the
    /// peer's: [`sign_error`].
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.signer
            .sign(&self.key_id, self.scheme, message)
            .map_err(|e| rustls::Error::Other(rustls::OtherError(Arc::new(e))))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// The signing failure behind a failed handshake, if that is what failed
/// it (tokio-rustls reports rustls errors inside an `io::Error`).
pub fn sign_error(error: &std::io::Error) -> Option<&super::SignError> {
    let rustls::Error::Other(other) = error.get_ref()?.downcast_ref::<rustls::Error>()? else {
        return None;
    };
    other.0.downcast_ref::<super::SignError>()
}
