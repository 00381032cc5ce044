//! The rustls configuration of a TLS client (`forward with tls`), with
//! relayd's three ways of checking the backend:
//!
//! - no `ca file`: nothing is verified and no SNI is sent, as relayd does
//!   (the daemon says so once in its log at start-up);
//! - `ca file PATH`: the chain must lead to a CA of PATH; the name is not
//!   checked and no SNI is sent, as relayd does;
//! - `verify name NAME` (an extension, needs `ca file`): NAME is sent as SNI
//!   and the certificate must be valid for it.
//!
//! Handshake signatures are checked in every mode. For TLS inspection the
//! relay may send the client's SNI ([`BackendTls::server_name`]), which
//! changes no check.

use crate::options::TlsSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::IpAddr;
use std::sync::Arc;

/// How the backend's certificate is checked.
#[derive(Debug, Clone)]
pub enum BackendVerification {
    /// relayd without `ca file`.
    Nothing,
    /// relayd with `ca file`: the chain, not the name.
    Chain(Arc<RootCertStore>),
    /// `verify name NAME`: the chain and NAME, sent as SNI.
    ChainAndName {
        roots: Arc<RootCertStore>,
        name: ServerName<'static>,
    },
}

impl BackendVerification {
    /// Words for the log line at start-up.
    pub fn describe(&self) -> String {
        match self {
            BackendVerification::Nothing => {
                "backend certificates are not verified and no SNI is sent (no tls ca file)".into()
            }
            BackendVerification::Chain(_) => {
                "backend certificate chains are verified, their names are not, no SNI is sent"
                    .into()
            }
            BackendVerification::ChainAndName { name, .. } => format!(
                "backend certificates are verified for {}, sent as SNI",
                name.to_str()
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("protocol {protocol}: {source}")]
    Rustls {
        protocol: String,
        source: rustls::Error,
    },
    #[error("protocol {protocol}: tls ca file: {reason}")]
    Verifier { protocol: String, reason: String },
    #[error("protocol {protocol}: tls verify name {name}: not a DNS name or address")]
    BadName { protocol: String, name: String },
}

/// A relay's TLS client side.
#[derive(Debug, Clone)]
pub struct BackendTls {
    config: Arc<ClientConfig>,
    verification: BackendVerification,
}

impl BackendTls {
    pub fn new(
        settings: &TlsSettings,
        verification: BackendVerification,
    ) -> Result<BackendTls, ClientConfigError> {
        let protocol = || settings.protocol.clone();
        let provider = settings.provider.clone();
        let verifier: Arc<dyn ServerCertVerifier> = match &verification {
            BackendVerification::Nothing => Arc::new(NoVerification::new(provider.clone())),
            BackendVerification::Chain(roots) => Arc::new(ChainOnly {
                roots: roots.clone(),
                signatures: NoVerification::new(provider.clone()),
            }),
            BackendVerification::ChainAndName { roots, .. } => {
                WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                    .build()
                    .map_err(|e| ClientConfigError::Verifier {
                        protocol: protocol(),
                        reason: e.to_string(),
                    })?
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&settings.versions)
            .map_err(|source| ClientConfigError::Rustls {
                protocol: protocol(),
                source,
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(BackendTls {
            config: Arc::new(config),
            verification,
        })
    }

    /// The verification of a protocol's options: `verify name` with `ca
    /// file`, `ca file`, or nothing. `ca_file_roots` is the parsed `ca
    /// file` (the parent read it).
    pub fn verification(
        settings: &TlsSettings,
        verify_name: Option<&str>,
        ca_file_roots: Option<Arc<RootCertStore>>,
    ) -> Result<BackendVerification, ClientConfigError> {
        Ok(match (ca_file_roots, verify_name) {
            (None, _) => BackendVerification::Nothing,
            (Some(roots), None) => BackendVerification::Chain(roots),
            (Some(roots), Some(name)) => BackendVerification::ChainAndName {
                roots,
                name: ServerName::try_from(name.to_string()).map_err(|_| {
                    ClientConfigError::BadName {
                        protocol: settings.protocol.clone(),
                        name: name.to_string(),
                    }
                })?,
            },
        })
    }

    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    pub fn verification_mode(&self) -> &BackendVerification {
        &self.verification
    }

    /// The name to connect with: `verify name`'s, else `client_sni` (TLS
    /// inspection passes the client's), else the backend's address, which
    /// rustls never sends as SNI.
    pub fn server_name(&self, backend: IpAddr, client_sni: Option<&str>) -> ServerName<'static> {
        if let BackendVerification::ChainAndName { name, .. } = &self.verification {
            return name.clone();
        }
        client_sni
            .and_then(|sni| ServerName::try_from(sni.to_string()).ok())
            .filter(|name| matches!(name, ServerName::DnsName(_)))
            .unwrap_or(ServerName::IpAddress(backend.into()))
    }

    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }
}

/// relayd without `ca file`: any certificate; handshake signatures are
/// still checked against its key, which costs nothing.
#[derive(Debug)]
pub struct NoVerification {
    provider: Arc<CryptoProvider>,
}

impl NoVerification {
    pub fn new(provider: Arc<CryptoProvider>) -> NoVerification {
        NoVerification { provider }
    }
}

impl ServerCertVerifier for NoVerification {
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

/// relayd with `ca file`: the chain must lead to a root, the name is not
/// looked at. Handshake signatures as [`NoVerification`] checks them.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    signatures: NoVerification,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.signatures
                .provider
                .signature_verification_algorithms
                .all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}
