//! A session made on one relay process resumes on another.

use crate::server::{server_config, ServerParts};
use crate::sni::SniResolver;
use crate::test_support::*;
use crate::tickets::{SharedTicketer, TicketKeyRotation};
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn relay_process(
    leaf: &Leaf,
    tickets: Option<Arc<SharedTicketer>>,
    tls: relayd_config::TlsOptions,
) -> Arc<ServerConfig> {
    let (keys, _) = remote_keys(&[(leaf, None)]);
    server_config(
        &settings_of(tls),
        ServerParts {
            certificates: Arc::new(SniResolver::new(keys).unwrap()),
            client_roots: None,
            tickets,
        },
    )
    .unwrap()
}

/// One handshake and a byte each way (TLS 1.3 tickets come after the
/// handshake); the client's handshake kind.
async fn session(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Option<HandshakeKind> {
    let (served, connected) = handshake(server, client, "www.example.test").await;
    let (mut served, mut connected) = (served.unwrap(), connected.unwrap());
    served.write_all(b"x").await.unwrap();
    let mut byte = [0];
    connected.read_exact(&mut byte).await.unwrap();
    connected.write_all(b"y").await.unwrap();
    served.read_exact(&mut byte).await.unwrap();
    connected.get_ref().1.handshake_kind()
}

fn tickets_on() -> relayd_config::TlsOptions {
    relayd_config::TlsOptions {
        session_tickets: Some(true),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_client_resumes_on_another_process_sharing_the_keys() {
    let issuer = Issuer::new("CA");
    let leaf = leaf(
        &issuer,
        &["www.example.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let rotation = TicketKeyRotation::new(1_700_000_000).unwrap();
    for tls in [
        tickets_on(),
        relayd_config::TlsOptions {
            tlsv1_3: Some(false),
            ..tickets_on()
        },
    ] {
        // Each process got the parent's key set.
        let first = relay_process(
            &leaf,
            Some(Arc::new(SharedTicketer::new(rotation.keys()))),
            tls.clone(),
        );
        let second = relay_process(
            &leaf,
            Some(Arc::new(SharedTicketer::new(rotation.keys()))),
            tls.clone(),
        );
        let client = client_trusting(issuer.roots());
        assert_eq!(
            session(first, client.clone()).await,
            Some(HandshakeKind::Full)
        );
        assert_eq!(
            session(second.clone(), client.clone()).await,
            Some(HandshakeKind::Resumed),
            "{tls:?}"
        );
        // A process with other keys cannot resume it.
        let stranger = TicketKeyRotation::new(1_700_000_000).unwrap();
        let third = relay_process(
            &leaf,
            Some(Arc::new(SharedTicketer::new(stranger.keys()))),
            tls,
        );
        let fresh = client_trusting(issuer.roots());
        session(second, fresh.clone()).await;
        assert_eq!(session(third, fresh).await, Some(HandshakeKind::Full));
    }
}

#[tokio::test]
async fn without_session_tickets_nothing_resumes() {
    let issuer = Issuer::new("CA");
    let leaf = leaf(
        &issuer,
        &["www.example.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let server = relay_process(&leaf, None, Default::default());
    assert_eq!(server.send_tls13_tickets, 0);
    assert_eq!(server.max_early_data_size, 0);
    let client = client_trusting(issuer.roots());
    session(server.clone(), client.clone()).await;
    assert_eq!(session(server, client).await, Some(HandshakeKind::Full));
    let settings = settings_of(tickets_on());
    let (keys, _) = remote_keys(&[(&leaf, None)]);
    let parts = ServerParts {
        certificates: Arc::new(SniResolver::new(keys).unwrap()),
        client_roots: None,
        tickets: None,
    };
    assert!(
        server_config(&settings, parts).is_err(),
        "tickets on without keys is an error"
    );
}
