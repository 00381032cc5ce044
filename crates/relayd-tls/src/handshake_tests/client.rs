//! The three ways a relay checks its backend.

use crate::client::{BackendTls, BackendVerification};
use crate::sni::SniResolver;
use crate::test_support::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const BACKEND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One connection from `backend_tls` to a server presenting `leaf`; the
/// client's result and the SNI the server saw.
async fn connect(
    backend_tls: &BackendTls,
    leaf: &Leaf,
    client_sni: Option<&str>,
) -> (std::io::Result<()>, Option<String>) {
    let (keys, _) = remote_keys(&[(leaf, None)]);
    let server = server_with(Arc::new(SniResolver::new(keys).unwrap()));
    let (client_socket, server_socket) = socket_pair().await;
    let name = backend_tls.server_name(BACKEND, client_sni);
    let (served, connected) = tokio::join!(
        crate::accept::accept(server_socket, server),
        backend_tls.connector().connect(name, client_socket)
    );
    let sni = served
        .ok()
        .and_then(|s| s.get_ref().1.server_name().map(str::to_string));
    (connected.map(|_| ()), sni)
}

fn backend_tls(verification: BackendVerification) -> BackendTls {
    BackendTls::new(&settings_of(Default::default()), verification).unwrap()
}

#[tokio::test]
async fn without_ca_file_nothing_is_verified_and_no_sni_is_sent() {
    let stranger = leaf(
        &Issuer::new("unknown CA"),
        &["backend.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let tls = backend_tls(BackendVerification::Nothing);
    let (connected, sni) = connect(&tls, &stranger, None).await;
    connected.unwrap();
    assert_eq!(sni, None);
    assert!(tls.verification_mode().describe().contains("not verified"));
}

#[tokio::test]
async fn ca_file_verifies_the_chain_but_not_the_name() {
    let issuer = Issuer::new("backend CA");
    let wrong_name = leaf(&issuer, &["other.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let stranger = leaf(
        &Issuer::new("unknown CA"),
        &["backend.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let tls = backend_tls(BackendVerification::Chain(issuer.roots()));
    let (connected, sni) = connect(&tls, &wrong_name, None).await;
    connected.expect("a chain to the CA passes whatever its name");
    assert_eq!(sni, None);
    let (connected, _) = connect(&tls, &stranger, None).await;
    assert!(connected.is_err(), "a chain to another CA fails");
}

#[tokio::test]
async fn verify_name_sends_sni_and_checks_the_name() {
    let issuer = Issuer::new("backend CA");
    let right = leaf(&issuer, &["backend.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let wrong = leaf(&issuer, &["other.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let settings = settings_of(Default::default());
    let verification =
        BackendTls::verification(&settings, Some("backend.test"), Some(issuer.roots())).unwrap();
    let tls = BackendTls::new(&settings, verification).unwrap();
    let (connected, sni) = connect(&tls, &right, None).await;
    connected.unwrap();
    assert_eq!(sni.as_deref(), Some("backend.test"));
    let (connected, _) = connect(&tls, &wrong, None).await;
    assert!(connected.is_err(), "a certificate for another name fails");
}

#[tokio::test]
async fn inspection_passes_the_clients_sni_on() {
    let stranger = leaf(
        &Issuer::new("unknown CA"),
        &["site.test"],
        &rcgen::PKCS_ECDSA_P256_SHA256,
    );
    let tls = backend_tls(BackendVerification::Nothing);
    let (connected, sni) = connect(&tls, &stranger, Some("site.test")).await;
    connected.unwrap();
    assert_eq!(sni.as_deref(), Some("site.test"));
}
