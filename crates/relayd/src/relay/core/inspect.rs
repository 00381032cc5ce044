//! TLS inspection (`listen on ... tls`, `forward with tls to destination`,
//! `tls ca cert`, `tls ca key`), as relayd's relay_preconnect: read the
//! client's ClientHello, connect to the original destination with the
//! client's SNI, copy the backend's certificate with the relay's own
//! public key and the CA as issuer, and only then finish the client's
//! handshake with that copy.
//!
//! The copy is built here (`relayd_tls::inspect::mint`) and signed by the
//! CA key in ca N, through the same signer as every handshake signature:
//! this process never holds the CA key. Building blocks on that signature,
//! so it runs on the blocking pool. Each backend certificate is copied
//! once: the server configuration presenting it is cached (bounded, least
//! recently used out) by the backend certificate's hash.

use super::end::{Ended, Outcome};
use super::forward::{self, connect_backend_to, Destination};
use super::plan::RelayPlan;
use super::shared::{Backend, Shared};
use super::stream::Transport;
use relayd_tls::inspect::{mint, InspectError, InspectionCa, MintedCache, DEFAULT_CACHE_SIZE};
use relayd_tls::server::{server_config, ServerConfigError, ServerParts};
use relayd_tls::sign::{KeySigner, RemoteKey};
use relayd_tls::sni::SingleCert;
use relayd_tls::tickets::SharedTicketer;
use relayd_tls::TlsSettings;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::{RootCertStore, ServerConfig};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// What a relay needs to present copies of backend certificates.
pub struct Inspection {
    pub ca: InspectionCa,
    /// The relay's own key (its first keypair's), private half in ca N.
    pub relay_key: RemoteKey,
    pub relay_public_key: SubjectPublicKeyInfoDer<'static>,
    pub signer: Arc<dyn KeySigner>,
    pub settings: TlsSettings,
    pub client_roots: Option<Arc<RootCertStore>>,
    pub tickets: Arc<SharedTicketer>,
    pub cache: MintedCache<Arc<ServerConfig>>,
}

impl fmt::Debug for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inspection")
            .field("ca", &self.ca.key_id())
            .field("relay_key", &self.relay_key)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// Why no copy of a backend certificate could be presented.
#[derive(Debug, thiserror::Error)]
pub enum InspectFailed {
    #[error("the backend sent no certificate")]
    NoCertificate,
    #[error("could not create certificate: {0}")]
    Mint(#[from] InspectError),
    #[error("could not create certificate: {0}")]
    Server(#[from] ServerConfigError),
    #[error("could not create certificate: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Inspection {
    /// The settings, client CAs and tickets of the relay's server side.
    pub fn new(
        ca: InspectionCa,
        relay_key: RemoteKey,
        relay_public_key: SubjectPublicKeyInfoDer<'static>,
        signer: Arc<dyn KeySigner>,
        parts: (TlsSettings, Option<Arc<RootCertStore>>, Arc<SharedTicketer>),
    ) -> Inspection {
        let (settings, client_roots, tickets) = parts;
        Inspection {
            ca,
            relay_key,
            relay_public_key,
            signer,
            settings,
            client_roots,
            tickets,
            cache: MintedCache::new(DEFAULT_CACHE_SIZE),
        }
    }

    /// The server configuration presenting the copy of `backend`: cached,
    /// or minted now (the CA's signature asked of ca N).
    pub async fn server_config(
        self: &Arc<Self>,
        backend: &CertificateDer<'static>,
    ) -> Result<Arc<ServerConfig>, InspectFailed> {
        if let Some(config) = self.cache.get(backend) {
            return Ok(config);
        }
        let this = self.clone();
        let original = backend.clone();
        let minted = tokio::task::spawn_blocking(move || {
            mint(
                &original,
                &this.relay_public_key,
                &this.ca,
                this.signer.as_ref(),
            )
        })
        .await??;
        let certified = self.relay_key.clone().certified(vec![minted], None);
        let parts = ServerParts {
            certificates: Arc::new(SingleCert(Arc::new(certified))),
            client_roots: self.client_roots.clone(),
            tickets: Some(self.tickets.clone()),
        };
        let config = server_config(&self.settings, parts)?;
        self.cache.insert(backend, config.clone());
        Ok(config)
    }
}

/// The client's handshake of an inspecting relay, with the backend
/// connected first; see the module docs. Every step is bounded by the
/// session timeout.
pub async fn handshake(
    shared: &Shared,
    plan: &RelayPlan,
    session: u32,
    (peer, listen): (SocketAddr, SocketAddr),
    client: TcpStream,
    inspection: &Arc<Inspection>,
) -> Result<(TlsStream<TcpStream>, Transport, Backend), Outcome> {
    let timeout = plan.session_timeout;
    let original = forward::original_destination(&socket2::SockRef::from(&client));
    let reading = relayd_tls::accept::read_client_hello(client);
    let hello = match tokio::time::timeout(timeout, reading).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(e)) => return Err(Outcome::Unrouted(Ended::Handshake(e))),
        Err(_) => return Err(Outcome::Unrouted(Ended::Timeout)),
    };
    let sni = hello.server_name();
    let to = Destination {
        original,
        listen,
        sni: sni.as_deref(),
    };
    let (server, backend) = match connect_backend_to(shared, plan, session, peer, to).await {
        Ok(connected) => connected,
        Err(error) => {
            // A backend certificate `tls ca file` refuses lands here.
            tracing::warn!(
                "relay {}, session {session}: TLS inspection of {peer}: {error}",
                plan.name
            );
            return Err(Outcome::NoBackend(error));
        }
    };
    let minted = match server.peer_certificate() {
        Some(leaf) => inspection.server_config(&leaf).await,
        None => Err(InspectFailed::NoCertificate),
    };
    let config = match minted {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(
                "relay {}, session {session}: TLS inspection of {peer}, backend {}: {e}",
                plan.name,
                backend.addr
            );
            let ended = Ended::Handshake(io::Error::other(e.to_string()));
            return Err(Outcome::Relayed(backend.addr, ended));
        }
    };
    match tokio::time::timeout(timeout, hello.finish(config)).await {
        Ok(Ok(stream)) => Ok((stream, server, backend)),
        Ok(Err(e)) => {
            if relayd_tls::sign::sign_error(&e).is_some() {
                tracing::warn!("relay {}: TLS handshake with {peer} failed: {e}", plan.name);
            }
            Err(Outcome::Relayed(backend.addr, Ended::Handshake(e)))
        }
        Err(_) => Err(Outcome::Relayed(backend.addr, Ended::Timeout)),
    }
}
