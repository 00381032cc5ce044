//! Making the inspection certificate: built in the relay, signed through
//! a [`KeySigner`] (in the daemon ca N, which alone holds the CA key), as
//! relayd's relay builds it and has its ca sign.

use crate::keys::{self, KeyKind};
use crate::sign::{KeySigner, SignError};
use crate::KeyId;
use der::asn1::{Any, BitString, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::{SignatureAlgorithm, SignatureScheme};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;

const AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// Signed certificate timestamps vouch for the backend's issuer having
/// logged the original; they cannot be valid for the copy.
const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("backend certificate: {0}")]
    Backend(String),
    #[error("CA certificate: {0}")]
    Ca(String),
    #[error("relay public key: {0}")]
    RelayKey(String),
    #[error("signing with the CA key: {0}")]
    Sign(#[from] SignError),
    #[error("encoding the certificate: {0}")]
    Encode(String),
}

/// What the CA certificate contributes: its subject, key id and the
/// signature it makes.
#[derive(Debug, Clone)]
pub struct InspectionCa {
    subject: Name,
    key_id: KeyId,
    scheme: SignatureScheme,
    algorithm: AlgorithmIdentifierOwned,
    key_identifier: Option<OctetString>,
}

impl InspectionCa {
    pub fn from_certificate(ca: &CertificateDer<'_>) -> Result<InspectionCa, InspectError> {
        let parsed = Certificate::from_der(ca).map_err(|e| InspectError::Ca(e.to_string()))?;
        let tbs = &parsed.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| InspectError::Ca(e.to_string()))?;
        let kind = KeyKind::of_public_key(&spki).map_err(|e| InspectError::Ca(e.to_string()))?;
        let (scheme, oid, parameters) = match (kind.algorithm, kind.schemes.first()) {
            (SignatureAlgorithm::RSA, _) => (
                SignatureScheme::RSA_PKCS1_SHA256,
                SHA256_WITH_RSA,
                Some(Any::null()),
            ),
            (SignatureAlgorithm::ED25519, _) => (SignatureScheme::ED25519, ED25519, None),
            (_, Some(&SignatureScheme::ECDSA_NISTP384_SHA384)) => (
                SignatureScheme::ECDSA_NISTP384_SHA384,
                ECDSA_WITH_SHA384,
                None,
            ),
            (_, Some(&SignatureScheme::ECDSA_NISTP521_SHA512)) => (
                SignatureScheme::ECDSA_NISTP521_SHA512,
                ECDSA_WITH_SHA512,
                None,
            ),
            _ => (
                SignatureScheme::ECDSA_NISTP256_SHA256,
                ECDSA_WITH_SHA256,
                None,
            ),
        };
        let key_identifier = extension(&parsed, SUBJECT_KEY_ID)
            .map(|ext| SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes()))
            .transpose()
            .map_err(|e| InspectError::Ca(e.to_string()))?
            .map(|ski| ski.0);
        Ok(InspectionCa {
            subject: tbs.subject.clone(),
            key_id: KeyId::of_public_key(&spki),
            scheme,
            algorithm: AlgorithmIdentifierOwned { oid, parameters },
            key_identifier,
        })
    }

    /// The id of the CA key, to find it in the ca's key store.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&Extension> {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|ext| ext.extn_id == oid)
}

/// The inspection certificate for `backend` (DER), carrying `relay_key`
/// and signed with the CA key through `signer`.
///
/// Kept as in the backend's certificate: version, serial, validity,
/// subject and every extension but three: the authority key identifier
/// names the CA's key (or goes, if the CA has none), the subject key
/// identifier is recomputed for the relay's key, and SCTs go.
pub fn mint(
    backend: &CertificateDer<'_>,
    relay_key: &SubjectPublicKeyInfoDer<'_>,
    ca: &InspectionCa,
    signer: &dyn KeySigner,
) -> Result<CertificateDer<'static>, InspectError> {
    let mut cert =
        Certificate::from_der(backend).map_err(|e| InspectError::Backend(e.to_string()))?;
    let relay_key = SubjectPublicKeyInfoOwned::from_der(relay_key)
        .map_err(|e| InspectError::RelayKey(e.to_string()))?;
    let new_key_identifier = subject_key_identifier(&relay_key)?;
    let tbs = &mut cert.tbs_certificate;
    tbs.subject_public_key_info = relay_key;
    tbs.issuer = ca.subject.clone();
    tbs.signature = ca.algorithm.clone();
    if let Some(extensions) = tbs.extensions.as_mut() {
        extensions.retain(|ext| ext.extn_id != SCT_LIST);
        for ext in extensions.iter_mut() {
            if ext.extn_id == SUBJECT_KEY_ID {
                ext.extn_value = new_key_identifier.clone();
            }
        }
        match authority_key_identifier(ca)? {
            Some(value) => extensions
                .iter_mut()
                .filter(|ext| ext.extn_id == AUTHORITY_KEY_ID)
                .for_each(|ext| ext.extn_value = value.clone()),
            None => extensions.retain(|ext| ext.extn_id != AUTHORITY_KEY_ID),
        }
    }
    let to_be_signed = tbs
        .to_der()
        .map_err(|e| InspectError::Encode(e.to_string()))?;
    let signature = signer.sign(&ca.key_id, ca.scheme, &to_be_signed)?;
    cert.signature_algorithm = ca.algorithm.clone();
    cert.signature =
        BitString::from_bytes(&signature).map_err(|e| InspectError::Encode(e.to_string()))?;
    let der = cert
        .to_der()
        .map_err(|e| InspectError::Encode(e.to_string()))?;
    Ok(CertificateDer::from(der))
}

/// RFC 5280's method 1: SHA-1 of the public key bits, DER in an octet
/// string as the extension's value.
fn subject_key_identifier(key: &SubjectPublicKeyInfoOwned) -> Result<OctetString, InspectError> {
    let encode = |e: der::Error| InspectError::Encode(e.to_string());
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        key.subject_public_key.raw_bytes(),
    );
    let identifier = SubjectKeyIdentifier(OctetString::new(digest.as_ref()).map_err(encode)?);
    OctetString::new(identifier.to_der().map_err(encode)?).map_err(encode)
}

fn authority_key_identifier(ca: &InspectionCa) -> Result<Option<OctetString>, InspectError> {
    let encode = |e: der::Error| InspectError::Encode(e.to_string());
    let Some(key_identifier) = &ca.key_identifier else {
        return Ok(None);
    };
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(key_identifier.clone()),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    Ok(Some(
        OctetString::new(aki.to_der().map_err(encode)?).map_err(encode)?,
    ))
}

/// The relay's public key for [`mint`]: that of its first keypair.
pub fn relay_public_key(
    cert: &CertificateDer<'_>,
) -> Result<SubjectPublicKeyInfoDer<'static>, InspectError> {
    keys::public_key(cert).map_err(|e| InspectError::RelayKey(e.to_string()))
}
