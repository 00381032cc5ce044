//! Real keys and certificates (rcgen) and real handshakes over 127.0.0.1
//! for the unit tests.

use crate::sign::{KeySigner, KeyStore, RemoteKey};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SignatureAlgorithm};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// A test CA.
pub struct Issuer {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Issuer {
    pub fn new(name: &str) -> Issuer {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-sign CA");
        Issuer { cert, key }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der()).expect("add test CA");
        Arc::new(roots)
    }
}

/// A leaf certificate and its key, as PEM, the way the files hold them.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

pub fn leaf(issuer: &Issuer, names: &[&str], alg: &'static SignatureAlgorithm) -> Leaf {
    let key = KeyPair::generate_for(alg).expect("generate leaf key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, "leaf");
    let cert = params
        .signed_by(&key, &issuer.cert, &issuer.key)
        .expect("sign leaf");
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert: cert.der().clone(),
        key: PrivateKeyDer::try_from(key.serialize_der()).expect("leaf key der"),
    }
}

/// Certified keys whose private halves sit in one ca key store, each
/// with its OCSP staple, and that store.
pub fn remote_keys(leaves: &[(&Leaf, Option<Vec<u8>>)]) -> (Vec<Arc<CertifiedKey>>, Arc<KeyStore>) {
    let mut store = KeyStore::new();
    for (leaf, _) in leaves {
        store.insert(&leaf.key).expect("store key");
    }
    let store = Arc::new(store);
    let keys = leaves
        .iter()
        .map(|(leaf, ocsp)| {
            let remote = RemoteKey::for_certificate(&leaf.cert, store.clone()).expect("remote key");
            Arc::new(remote.certified(vec![leaf.cert.clone()], ocsp.clone()))
        })
        .collect();
    (keys, store)
}

/// A connected pair of sockets on 127.0.0.1: (client, server).
pub async fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.expect("connect"), accepted.expect("accept").0)
}

/// A client trusting `roots`.
pub fn client_trusting(roots: Arc<RootCertStore>) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Runs one handshake: `server` accepts with our accept helper, the
/// client connects for `name`; each side's result.
pub async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: &str,
) -> (
    std::io::Result<tokio_rustls::server::TlsStream<TcpStream>>,
    std::io::Result<tokio_rustls::client::TlsStream<TcpStream>>,
) {
    let (client_socket, server_socket) = socket_pair().await;
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = ServerName::try_from(name.to_string()).expect("server name");
    tokio::join!(
        crate::accept::accept(server_socket, server),
        connector.connect(name, client_socket)
    )
}

/// The settings of a protocol `test` with these options.
pub fn settings_of(tls: relayd_config::TlsOptions) -> crate::TlsSettings {
    let protocol = relayd_config::Protocol {
        id: 1,
        name: "test".into(),
        kind: Default::default(),
        tcp: Default::default(),
        tls,
        http: Default::default(),
        return_error: None,
        rules: Vec::new(),
        origin: Default::default(),
    };
    crate::settings(&protocol).expect("settings")
}

/// A server config over these certificates with default options.
pub fn server_with(certificates: Arc<dyn rustls::server::ResolvesServerCert>) -> Arc<ServerConfig> {
    crate::server::server_config(
        &settings_of(Default::default()),
        crate::server::ServerParts {
            certificates,
            client_roots: None,
            tickets: None,
        },
    )
    .expect("server config")
}

/// A signer that takes `delay` for each signature, as a slow ca would.
#[derive(Debug)]
pub struct SlowSigner {
    pub store: KeyStore,
    pub delay: std::time::Duration,
}

impl KeySigner for SlowSigner {
    fn sign(
        &self,
        key: &crate::KeyId,
        scheme: rustls::SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, crate::sign::SignError> {
        std::thread::sleep(self.delay);
        self.store.sign(key, scheme, message)
    }
}
