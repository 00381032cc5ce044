//! Full TLS 1.3 handshakes per second over 127.0.0.1 through the accept
//! helper, with the private key in-process (a `KeyStore`) or behind a
//! `ChannelSigner` answered by another thread (as the ca process would),
//! for ECDSA P-256 and RSA 2048. A benchmark, not a test:
//! `cargo run --release -p relayd-tls --example handshakes [COUNT]`.

use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};
use relayd_tls::sign::{
    ChannelSigner, KeySigner, KeyStore, RemoteKey, SendRequest, SignError, SignRequest,
};
use relayd_tls::sni::SingleCert;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};

struct ThreadCa(mpsc::Sender<SignRequest>);

impl SendRequest for ThreadCa {
    fn send(&self, request: SignRequest) -> Result<(), SignError> {
        self.0.send(request).map_err(|_| SignError::ChannelClosed)
    }
}

fn threaded(store: KeyStore) -> Arc<ChannelSigner<ThreadCa>> {
    let (requests, incoming) = mpsc::channel::<SignRequest>();
    let signer = Arc::new(ChannelSigner::new(
        ThreadCa(requests),
        relayd_tls::sign::DEFAULT_SIGN_TIMEOUT,
    ));
    let answers = Arc::downgrade(&signer);
    std::thread::spawn(move || {
        for request in incoming {
            let answer = store.sign(&request.key_id, request.scheme, &request.message);
            match answers.upgrade() {
                Some(signer) => signer.deliver(request.request_id, answer),
                None => return,
            };
        }
    });
    signer
}

async fn run(alg: &'static SignatureAlgorithm, remote: bool, count: u32) -> f64 {
    let key = KeyPair::generate_for(alg).expect("key");
    let cert = CertificateParams::new(vec!["bench.test".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let mut store = KeyStore::new();
    store
        .insert(&PrivateKeyDer::try_from(key.serialize_der()).expect("der"))
        .expect("store");
    let signer: Arc<dyn KeySigner> = if remote {
        threaded(store)
    } else {
        Arc::new(store)
    };
    let certified = RemoteKey::for_certificate(cert.der(), signer)
        .expect("remote")
        .certified(vec![cert.der().clone()], None);
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCert(Arc::new(certified))));
    let server = Arc::new(server);
    let client = relayd_tls::client::BackendTls::new(
        &relayd_tls::settings(&bench_protocol()).expect("settings"),
        relayd_tls::client::BackendVerification::Nothing,
    )
    .expect("client");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepting = tokio::spawn(async move {
        for _ in 0..count {
            let (socket, _) = listener.accept().await.expect("accept");
            let server = server.clone();
            tokio::spawn(async move { relayd_tls::accept::accept(socket, server).await.map(drop) });
        }
    });
    let started = Instant::now();
    for _ in 0..count {
        let socket = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("bench.test").expect("name");
        client
            .connector()
            .connect(name, socket)
            .await
            .expect("handshake");
    }
    let elapsed = started.elapsed().as_secs_f64();
    accepting.await.expect("acceptor");
    f64::from(count) / elapsed
}

fn bench_protocol() -> relayd_config::Protocol {
    relayd_config::Protocol {
        id: 1,
        name: "bench".into(),
        kind: Default::default(),
        tcp: Default::default(),
        tls: Default::default(),
        http: Default::default(),
        return_error: None,
        rules: Vec::new(),
        origin: Default::default(),
    }
}

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (name, alg) in [
        ("ECDSA P-256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("RSA 2048", &rcgen::PKCS_RSA_SHA256),
    ] {
        for remote in [false, true] {
            let rate = runtime.block_on(run(alg, remote, count));
            let signer = if remote {
                "signer thread"
            } else {
                "in-process"
            };
            println!("{name:12} {signer:14} {rate:8.0} handshakes/s ({count} sequential, client and server on one core)");
        }
    }
}
