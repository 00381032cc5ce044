//! Certificates chosen by SNI among keypairs, OCSP staples, client
//! certificates.

use crate::sni::SniResolver;
use crate::test_support::*;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};

/// A client verifier that records the certificate and staple it got.
#[derive(Debug, Default)]
struct Recorder {
    seen: Mutex<Vec<(CertificateDer<'static>, Vec<u8>)>>,
    inner: Option<Arc<dyn ServerCertVerifier>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.seen
            .lock()
            .unwrap()
            .push((end_entity.clone().into_owned(), ocsp.to_vec()));
        let inner = self.inner.as_ref().unwrap();
        inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.as_ref().unwrap().verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.as_ref().unwrap().verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.as_ref().unwrap().supported_verify_schemes()
    }
}

fn recording_client(issuer: &Issuer) -> (Arc<ClientConfig>, Arc<Recorder>) {
    let webpki = rustls::client::WebPkiServerVerifier::builder(issuer.roots())
        .build()
        .unwrap();
    let recorder = Arc::new(Recorder {
        seen: Mutex::default(),
        inner: Some(webpki),
    });
    let config = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    (Arc::new(config), recorder)
}

#[tokio::test]
async fn sni_chooses_among_keypairs_the_first_is_the_default() {
    let issuer = Issuer::new("CA");
    let www = leaf(
        &issuer,
        &["www.example.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let wild = leaf(&issuer, &["*.api.example.test"], &rcgen::PKCS_RSA_SHA256);
    let (keys, _) = remote_keys(&[(&www, Some(b"staple for www".to_vec())), (&wild, None)]);
    let server = server_with(Arc::new(SniResolver::new(keys).unwrap()));
    let (client, recorder) = recording_client(&issuer);

    let (served, connected) =
        handshake(server.clone(), client.clone(), "v1.api.example.test").await;
    served.unwrap();
    connected.unwrap();
    let (server_no_sni, client_no_sni) = {
        // An address sends no SNI: the default, the first keypair.
        let insecure = ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::client::NoVerification::new(
                Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            )))
            .with_no_client_auth();
        let recorder_client = Arc::new(insecure);
        handshake(server.clone(), recorder_client, "127.0.0.1").await
    };
    assert!(server_no_sni.unwrap().get_ref().1.server_name().is_none());
    let default = client_no_sni.unwrap();
    let presented = default.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(presented, www.cert);
    let (_, connected) = handshake(server, client, "www.example.test").await;
    connected.unwrap();
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen[0].0, wild.cert);
    assert!(
        seen[0].1.is_empty(),
        "no staple file for the wildcard keypair"
    );
    assert_eq!(seen[1], (www.cert.clone(), b"staple for www".to_vec()));
}

#[tokio::test]
async fn client_ca_requires_a_client_certificate_that_chains_to_it() {
    let issuer = Issuer::new("CA");
    let server_leaf = leaf(
        &issuer,
        &["www.example.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let clients = Issuer::new("client CA");
    let client_leaf = leaf(&clients, &["client.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let stranger = leaf(
        &Issuer::new("other CA"),
        &["client.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let (mut keys, _) = remote_keys(&[(&server_leaf, None)]);
    let certificates = Arc::new(crate::sni::SingleCert(keys.remove(0)));
    let server = crate::server::server_config(
        &settings_of(Default::default()),
        crate::server::ServerParts {
            certificates,
            client_roots: Some(clients.roots()),
            tickets: None,
        },
    )
    .unwrap();
    let with_cert = |leaf: &Leaf| {
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(issuer.roots())
                .with_client_auth_cert(vec![leaf.cert.clone()], leaf.key.clone_key())
                .unwrap(),
        )
    };
    let (served, _) = handshake(server.clone(), with_cert(&client_leaf), "www.example.test").await;
    let served = served.expect("a client certificate of the client CA passes");
    assert_eq!(
        served.get_ref().1.peer_certificates().unwrap()[0],
        client_leaf.cert
    );
    let (served, _) = handshake(server.clone(), with_cert(&stranger), "www.example.test").await;
    assert!(served.is_err(), "a certificate of another CA is refused");
    let (served, _) = handshake(server, client_trusting(issuer.roots()), "www.example.test").await;
    assert!(served.is_err(), "no client certificate is refused");
}
