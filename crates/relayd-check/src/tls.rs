//! `check tls` (and the `tls` flag of http/send checks): a full TLS
//! handshake over the TCP connection.
//!
//! As relayd's check (`tls_config_insecure_noverifycert`), the server's
//! certificate is not verified: the check proves that the server speaks TLS,
//! not who it is. The handshake signatures are still checked against the
//! certificate's key, which costs nothing and keeps rustls' invariants.

use std::sync::{Arc, OnceLock};

use relayd_tls::client::NoVerification;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::{tcp, HostError, Target, Verdict};

pub(crate) async fn check(target: &Target, deadline: Instant) -> Verdict {
    match connect(target, deadline, None).await {
        Ok(_stream) => Verdict::up(HostError::TlsConnectOk),
        Err(error) => Verdict::down(error),
    }
}

/// TCP connect, then TLS handshake, both by `deadline`. `server_name` is
/// sent as SNI when it is a DNS name; relayd sends none, which is what
/// happens here without one.
pub(crate) async fn connect(
    target: &Target,
    deadline: Instant,
    server_name: Option<&str>,
) -> Result<TlsStream<TcpStream>, HostError> {
    let stream = tcp::connect(target, deadline).await?;
    let name = server_name
        .and_then(|name| ServerName::try_from(name.to_owned()).ok())
        .filter(|name| matches!(name, ServerName::DnsName(_)))
        .unwrap_or_else(|| ServerName::IpAddress(target.addr.into()));
    let connector = TlsConnector::from(client_config().map_err(|_| HostError::TlsConnectError)?);
    match timeout_at(deadline, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(_)) => Err(HostError::TlsConnectFail),
        Err(_elapsed) => Err(HostError::TlsConnectTimeout),
    }
}

/// One client configuration shared by all checks (it is immutable).
fn client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(aws_lc_rs::default_provider());
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification::new(provider)))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}
