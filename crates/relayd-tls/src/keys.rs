//! Certificates and private keys from bytes (the parent opens the files;
//! this reads what it read), and the key id that names a key everywhere: a
//! SHA-256 hash of its public key (SubjectPublicKeyInfo).
//!
//! Private keys: PEM PKCS#8, PKCS#1 (RSA) or SEC1 (EC), and encrypted
//! PKCS#8 with a password (`tls ca key PATH password PW`).

use der::{Decode, Encode};
use pkcs8::der::oid::ObjectIdentifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer};
use rustls::sign::SigningKey;
use rustls::{SignatureAlgorithm, SignatureScheme};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A key's name: SHA-256 of its DER SubjectPublicKeyInfo. The relay asks
/// its ca for signatures by this id; nothing else of the key leaves the ca.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    pub fn of_public_key(spki: &[u8]) -> KeyId {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki);
        let mut id = [0; 32];
        id.copy_from_slice(digest.as_ref());
        KeyId(id)
    }

    pub fn of_certificate(cert: &CertificateDer<'_>) -> Result<KeyId, KeyError> {
        Ok(KeyId::of_public_key(public_key(cert)?.as_ref()))
    }
}

impl fmt::Display for KeyId {
    /// The first 8 bytes in hex: enough to tell keys apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no PEM certificate found")]
    NoCertificate,
    #[error("certificate does not parse: {0}")]
    BadCertificate(String),
    #[error("no PEM private key found (expected PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY)")]
    NoPrivateKey,
    #[error("private key is encrypted and no password is given")]
    EncryptedWithoutPassword,
    #[error("private key is in OpenSSL's legacy encrypted PEM format: convert it with `openssl pkcs8 -topk8`")]
    LegacyEncryption,
    #[error(
        "private key does not decrypt with the password given (or its cipher is unsupported): {0}"
    )]
    Decrypt(String),
    #[error("private key is not usable: {0}")]
    Unusable(String),
    #[error("private key does not match the certificate's public key")]
    Mismatch,
    #[error(
        "unsupported public key algorithm {0} (expected RSA, ECDSA P-256/P-384/P-521 or Ed25519)"
    )]
    UnsupportedAlgorithm(String),
}

/// Every certificate of a PEM file, in order (the leaf first for a chain).
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(KeyError::NoCertificate);
    }
    for cert in &certs {
        x509_cert::Certificate::from_der(cert)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
    }
    Ok(certs)
}

/// The first private key of a PEM file; `password` decrypts an encrypted
/// PKCS#8 key (and is not needed for a plain one).
pub fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, KeyError> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::LegacyEncryption);
    }
    if let Some(block) = pem_block(&text, "ENCRYPTED PRIVATE KEY") {
        let password = password.ok_or(KeyError::EncryptedWithoutPassword)?;
        let (_label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| KeyError::Decrypt(e.to_string()))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(&der)
            .map_err(|e| KeyError::Decrypt(e.to_string()))?;
        let document = encrypted
            .decrypt(password)
            .map_err(|e| KeyError::Decrypt(e.to_string()))?;
        return Ok(PrivateKeyDer::Pkcs8(document.as_bytes().to_vec().into()));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyError::NoPrivateKey)
}

/// The text from `-----BEGIN label-----` to its END line, inclusive.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

/// A private key ready to sign, as the ca holds it.
pub fn signing_key(key: &PrivateKeyDer<'_>) -> Result<Arc<dyn SigningKey>, KeyError> {
    rustls::crypto::aws_lc_rs::sign::any_supported_type(key)
        .map_err(|e| KeyError::Unusable(e.to_string()))
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub fn public_key(cert: &CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'static>, KeyError> {
    let parsed = x509_cert::Certificate::from_der(cert)
        .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
    Ok(SubjectPublicKeyInfoDer::from(spki))
}

/// A certificate chain with its private key, checked to belong together.
pub struct Keypair {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub key_id: KeyId,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("certificates", &self.chain.len())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// Reads a certificate file and a key file (as bytes) and checks that
    /// the key is the certificate's.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        password: Option<&str>,
    ) -> Result<Keypair, KeyError> {
        let chain = certificates(cert_pem)?;
        let key = private_key(key_pem, password)?;
        let key_id = matching_key_id(&chain[0], &key)?;
        Ok(Keypair { chain, key, key_id })
    }
}

/// The key id of `cert`, after checking that `key` is its private key.
pub fn matching_key_id(
    cert: &CertificateDer<'_>,
    key: &PrivateKeyDer<'_>,
) -> Result<KeyId, KeyError> {
    let certified = public_key(cert)?;
    let signing = signing_key(key)?;
    let own = signing
        .public_key()
        .ok_or_else(|| KeyError::Unusable("no public key".into()))?;
    if own.as_ref() != certified.as_ref() {
        return Err(KeyError::Mismatch);
    }
    Ok(KeyId::of_public_key(certified.as_ref()))
}

/// What a public key can sign with, in rustls' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyKind {
    pub algorithm: SignatureAlgorithm,
    /// The TLS signature schemes this key can make, most preferred first.
    pub schemes: Vec<SignatureScheme>,
}

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

impl KeyKind {
    /// The kind of the key a DER SubjectPublicKeyInfo describes.
    pub fn of_public_key(spki: &[u8]) -> Result<KeyKind, KeyError> {
        let info = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        let oid = info.algorithm.oid;
        let (algorithm, schemes) = if oid == RSA_ENCRYPTION {
            (
                SignatureAlgorithm::RSA,
                vec![
                    SignatureScheme::RSA_PSS_SHA512,
                    SignatureScheme::RSA_PSS_SHA384,
                    SignatureScheme::RSA_PSS_SHA256,
                    SignatureScheme::RSA_PKCS1_SHA512,
                    SignatureScheme::RSA_PKCS1_SHA384,
                    SignatureScheme::RSA_PKCS1_SHA256,
                ],
            )
        } else if oid == ED25519 {
            (SignatureAlgorithm::ED25519, vec![SignatureScheme::ED25519])
        } else if oid == EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            let scheme = match curve {
                Some(c) if c == P256 => SignatureScheme::ECDSA_NISTP256_SHA256,
                Some(c) if c == P384 => SignatureScheme::ECDSA_NISTP384_SHA384,
                Some(c) if c == P521 => SignatureScheme::ECDSA_NISTP521_SHA512,
                other => {
                    return Err(KeyError::UnsupportedAlgorithm(format!(
                        "ECDSA on curve {}",
                        other
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "(none)".into())
                    )))
                }
            };
            (SignatureAlgorithm::ECDSA, vec![scheme])
        } else {
            return Err(KeyError::UnsupportedAlgorithm(oid.to_string()));
        };
        Ok(KeyKind { algorithm, schemes })
    }
}

/// Roots for verifying peers (`ca file`, `client ca`): every certificate
/// of a PEM bundle.
pub fn root_store(pem: &[u8]) -> Result<rustls::RootCertStore, KeyError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(pem)? {
        roots
            .add(cert)
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
    }
    Ok(roots)
}

#[cfg(test)]
pub(crate) mod tests;
