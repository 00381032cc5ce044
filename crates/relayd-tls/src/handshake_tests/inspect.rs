//! Inspection certificates: a client trusting only the inspection CA
//! accepts the minted copy of a backend's certificate.

use crate::inspect::{mint, relay_public_key, InspectionCa, MintedCache};
use crate::sign::KeyStore;
use crate::sni::SingleCert;
use crate::test_support::*;
use der::Decode;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// A backend certificate from a CA the client does not know, with a
/// validity and an extension of its own.
fn backend_certificate() -> CertificateDer<'static> {
    let unknown = Issuer::new("Backend's own CA");
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params =
        CertificateParams::new(vec!["site.test".to_string(), "www.site.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "site.test");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Site Inc");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
        .signed_by(&key, &unknown.cert, &unknown.key)
        .unwrap()
        .der()
        .clone()
}

#[tokio::test]
async fn a_client_trusting_the_inspection_ca_accepts_the_minted_certificate() {
    let inspection_ca = Issuer::new("Inspection CA");
    let relay = leaf(
        &inspection_ca,
        &["relay.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let backend = backend_certificate();

    // The ca process: the CA key in its store; it mints.
    let mut ca_store = KeyStore::new();
    ca_store
        .insert(&PrivateKey::from(&inspection_ca.key))
        .unwrap();
    let ca = InspectionCa::from_certificate(&inspection_ca.der()).unwrap();
    let relay_key = relay_public_key(&relay.cert).unwrap();
    let minted = mint(&backend, &relay_key, &ca, &ca_store).unwrap();

    let original = x509_cert::Certificate::from_der(&backend)
        .unwrap()
        .tbs_certificate;
    let copy = x509_cert::Certificate::from_der(&minted)
        .unwrap()
        .tbs_certificate;
    assert_eq!(copy.subject, original.subject);
    assert_eq!(copy.serial_number, original.serial_number);
    assert_eq!(copy.validity, original.validity);
    let ids = |tbs: &x509_cert::TbsCertificate| -> Vec<String> {
        tbs.extensions
            .iter()
            .flatten()
            .map(|e| e.extn_id.to_string())
            .collect()
    };
    assert_eq!(ids(&copy), ids(&original), "every extension is kept");
    let issuer = x509_cert::Certificate::from_der(&inspection_ca.der())
        .unwrap()
        .tbs_certificate
        .subject;
    assert_eq!(copy.issuer, issuer);

    // The relay serves it with its own key; the client trusts only the CA.
    let (relay_keys, _) = remote_keys(&[(&relay, None)]);
    let served = relay_keys[0].key.clone();
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![minted.clone()],
        served,
    ));
    let server = server_with(Arc::new(SingleCert(certified)));
    let client = client_trusting(inspection_ca.roots());
    let (accepted, connected) = handshake(server.clone(), client.clone(), "www.site.test").await;
    accepted.unwrap();
    connected.expect("the client verifies the minted certificate for the backend's name");
    let (_, connected) = handshake(server, client, "relay.test").await;
    assert!(
        connected.is_err(),
        "the names are the backend's, not the relay's"
    );
}

/// The rcgen key as the DER the ca reads from its file.
struct PrivateKey;

impl PrivateKey {
    fn from(key: &KeyPair) -> rustls::pki_types::PrivateKeyDer<'static> {
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap()
    }
}

#[test]
fn the_cache_is_bounded_and_keyed_by_the_backend_certificate() {
    let cache = MintedCache::new(2);
    let certs: Vec<CertificateDer<'static>> =
        (0..3u8).map(|n| CertificateDer::from(vec![n; 8])).collect();
    cache.insert(&certs[0], "zero");
    cache.insert(&certs[1], "one");
    assert_eq!(cache.get(&certs[0]), Some("zero"));
    cache.insert(&certs[2], "two");
    // certs[1] was the least recently used.
    assert_eq!(cache.get(&certs[1]), None);
    assert_eq!(
        (cache.get(&certs[0]), cache.get(&certs[2])),
        (Some("zero"), Some("two"))
    );
    assert_eq!(cache.len(), 2);
}
