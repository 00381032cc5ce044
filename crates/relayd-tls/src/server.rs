//! The rustls configuration of a TLS server (`listen on ... tls`).

use crate::options::TlsSettings;
use crate::tickets::SharedTicketer;
use rustls::server::{NoServerSessionStorage, ResolvesServerCert, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;

/// What a server configuration is made of besides the options.
#[derive(Debug)]
pub struct ServerParts {
    /// The certificates: usually a [`crate::sni::SniResolver`] of remote
    /// keys, or an inspection resolver.
    pub certificates: Arc<dyn ResolvesServerCert>,
    /// `tls client ca`: clients must present a certificate chaining to one
    /// of these.
    pub client_roots: Option<Arc<RootCertStore>>,
    /// The relay's shared ticket keys; used when `session tickets` is on.
    pub tickets: Option<Arc<SharedTicketer>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerConfigError {
    #[error("protocol {protocol}: {source}")]
    Rustls {
        protocol: String,
        source: rustls::Error,
    },
    #[error("protocol {protocol}: tls client ca: {reason}")]
    ClientCa { protocol: String, reason: String },
    #[error("protocol {0}: session tickets are on but no ticket keys were given")]
    NoTicketKeys(String),
}

/// The server configuration for `settings`. Session tickets only with
/// `session tickets` (and then only from the shared keys, so any relay
/// process resumes any session); no session cache otherwise, and no
/// 0-RTT data ever.
pub fn server_config(
    settings: &TlsSettings,
    parts: ServerParts,
) -> Result<Arc<ServerConfig>, ServerConfigError> {
    let protocol = || settings.protocol.clone();
    let builder = ServerConfig::builder_with_provider(settings.provider.clone())
        .with_protocol_versions(&settings.versions)
        .map_err(|source| ServerConfigError::Rustls {
            protocol: protocol(),
            source,
        })?;
    let builder = match parts.client_roots {
        Some(roots) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots, settings.provider.clone())
                    .build()
                    .map_err(|e| ServerConfigError::ClientCa {
                        protocol: protocol(),
                        reason: e.to_string(),
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(parts.certificates);
    config.ignore_client_order = settings.server_cipher_order;
    config.max_early_data_size = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    if settings.session_tickets {
        let tickets = parts
            .tickets
            .ok_or_else(|| ServerConfigError::NoTicketKeys(protocol()))?;
        config.ticketer = tickets;
        config.send_tls13_tickets = 1;
    } else {
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}
