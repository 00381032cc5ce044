//! The accept helper keeps a slow signature off the runtime thread.

use crate::sign::KeyStore;
use crate::sni::SingleCert;
use crate::test_support::*;
use rustls::crypto::aws_lc_rs::{self, kx_group};
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SIGNATURE_TIME: Duration = Duration::from_millis(200);

/// A server whose every signature takes 200 ms, and a client trusting it.
fn slow_server(ecdhe: Option<&str>) -> (Arc<ServerConfig>, Issuer) {
    let issuer = Issuer::new("CA");
    let leaf = leaf(&issuer, &["slow.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let mut store = KeyStore::new();
    store.insert(&leaf.key).unwrap();
    let signer = Arc::new(SlowSigner {
        store,
        delay: SIGNATURE_TIME,
    });
    let remote = crate::sign::RemoteKey::for_certificate(&leaf.cert, signer).unwrap();
    let key: Arc<CertifiedKey> = Arc::new(remote.certified(vec![leaf.cert.clone()], None));
    let tls = relayd_config::TlsOptions {
        ecdhe: ecdhe.map(str::to_string),
        ..Default::default()
    };
    let config = crate::server::server_config(
        &settings_of(tls),
        crate::server::ServerParts {
            certificates: Arc::new(SingleCert(key)),
            client_roots: None,
            tickets: None,
        },
    )
    .unwrap();
    (config, issuer)
}

/// Ticks of a 10 ms ticker task while `handshake` runs on the same
/// current_thread runtime, and the client's handshake kind.
fn ticks_during<F, Fut>(handshake: F) -> (u32, Option<HandshakeKind>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Option<HandshakeKind>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ticks = Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        // Sleeps, not an interval: an interval catches up on missed ticks.
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Let the ticker start before the handshake begins.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = ticks.load(Ordering::Relaxed);
        let kind = handshake().await;
        let during = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();
        (during, kind)
    })
}

async fn connect_and_accept(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    ours: bool,
) -> Option<HandshakeKind> {
    let (client_socket, server_socket) = socket_pair().await;
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = ServerName::try_from("slow.test").unwrap();
    let client = tokio::spawn(async move { connector.connect(name, client_socket).await });
    if ours {
        crate::accept::accept(server_socket, server)
            .await
            .expect("server handshake");
    } else {
        tokio_rustls::TlsAcceptor::from(server)
            .accept(server_socket)
            .await
            .expect("server handshake");
    }
    let stream = client.await.unwrap().expect("client handshake");
    stream.get_ref().1.handshake_kind()
}

#[test]
fn other_tasks_run_while_a_signature_takes_200ms() {
    let (server, issuer) = slow_server(None);
    let client = client_trusting(issuer.roots());
    let (ticks, kind) = ticks_during(|| connect_and_accept(server, client, true));
    assert_eq!(kind, Some(HandshakeKind::Full));
    // 200 ms of signing: about 20 ticks of 10 ms; a blocked runtime makes 0.
    assert!(ticks >= 12, "ticker ran {ticks} times during the handshake");
}

#[test]
fn a_plain_acceptor_would_block_them_the_control() {
    let (server, issuer) = slow_server(None);
    let client = client_trusting(issuer.roots());
    let (ticks, _) = ticks_during(|| connect_and_accept(server, client, false));
    assert!(
        ticks <= 3,
        "ticker ran {ticks} times: the control no longer blocks"
    );
}

#[test]
fn after_a_hello_retry_request_the_signature_is_off_the_runtime_too() {
    // The server has X25519 only; the client offers P-256 first and sends
    // a key share for it only: the server asks again, then signs.
    let (server, issuer) = slow_server(Some("X25519"));
    let provider = rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::SECP256R1, kx_group::X25519],
        ..aws_lc_rs::default_provider()
    };
    let client = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(issuer.roots())
            .with_no_client_auth(),
    );
    let (ticks, kind) = ticks_during(|| connect_and_accept(server, client, true));
    assert_eq!(kind, Some(HandshakeKind::FullWithHelloRetryRequest));
    assert!(ticks >= 12, "ticker ran {ticks} times during the handshake");
}
