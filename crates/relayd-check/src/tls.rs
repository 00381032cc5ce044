//! `check tls` (and the `tls` flag of http/send checks): a full TLS
//! handshake over the TCP connection.
//!
//! As relayd's check (`tls_config_insecure_noverifycert`), the server's
//! certificate is not verified: the check proves that the server speaks TLS,
//! not who it is. The handshake signatures are still checked against the
//! certificate's key, which costs nothing and keeps rustls' invariants.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{aws_lc_rs, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
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
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
