//! A relay's TLS, built when a configuration is prepared: the server
//! configuration of each `listen on ... tls` (its keypairs' certificates
//! and OCSP staples as the parent sent them, chosen by SNI, the first the
//! default; every key a `RemoteKey` whose signatures ca N makes; client
//! certificates required with `tls client ca`), and the client side of
//! `forward with tls` (`tls ca file` verifies the chain, `tls verify name`
//! the name too, else nothing is checked, as in relayd). The server
//! handshake runs in the session's task (`core/session.rs`, the signing
//! step on the blocking pool), the client handshake inside connect's
//! retries (`core/forward.rs`).

use super::inspect::Inspection;
use super::stream::Layered;
use relayd_config::{Config, Origin, Relay};
use relayd_proto::messages::{RelayFile, RelayFileKind};
use relayd_tls::client::{BackendTls, ClientConfigError};
use relayd_tls::files;
use relayd_tls::inspect::{relay_public_key, InspectError, InspectionCa};
use relayd_tls::keys::{self, KeyError};
use relayd_tls::server::{server_config, ServerConfigError, ServerParts};
use relayd_tls::sign::{KeySigner, RemoteKey};
use relayd_tls::sni::{SniError, SniResolver};
use relayd_tls::tickets::SharedTicketer;
use relayd_tls::{OptionError, TlsSettings};
use rustls::{RootCertStore, ServerConfig};
use std::fmt;
use std::io;
use std::sync::Arc;
use tokio::net::TcpStream;

/// The TLS of one relay in this process.
#[derive(Debug, Clone, Default)]
pub struct TlsPlan {
    /// By listen index: the server side of `listen on ... tls`.
    pub servers: Vec<Option<Arc<ServerConfig>>>,
    /// `forward with tls`: the client side.
    pub backend: Option<BackendTls>,
    /// TLS inspection (`tls ca cert` + `tls ca key`): every TLS listener
    /// presents copies of the backends' certificates.
    pub inspection: Option<Arc<Inspection>>,
}

impl TlsPlan {
    /// The server configuration of listener `index`, if it speaks TLS.
    pub fn server(&self, index: u32) -> Option<Arc<ServerConfig>> {
        self.servers.get(index as usize).cloned().flatten()
    }
}

/// A TLS file the parent sent, with what reading it gave.
pub struct ReceivedFile {
    pub file: RelayFile,
    pub contents: io::Result<Vec<u8>>,
}

/// Why a relay's TLS cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsPlanError {
    #[error(transparent)]
    Options(#[from] OptionError),
    #[error("{}: {kind} {path}: {reason}", Location(origin))]
    File {
        origin: Origin,
        kind: RelayFileKind,
        path: String,
        reason: FileReason,
    },
    #[error("{}: relay {relay}: {what}: the file did not arrive", Location(origin))]
    Missing {
        origin: Origin,
        relay: String,
        what: String,
    },
    #[error("{}: relay {relay}: {source}", Location(origin))]
    Client {
        origin: Origin,
        relay: String,
        source: Box<ClientConfigError>,
    },
    #[error("{}: relay {relay}: {source}", Location(origin))]
    Sni {
        origin: Origin,
        relay: String,
        source: SniError,
    },
    #[error("{}: relay {relay}: {source}", Location(origin))]
    Server {
        origin: Origin,
        relay: String,
        source: Box<ServerConfigError>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FileReason {
    #[error("cannot read it: {0}")]
    Unreadable(#[source] io::Error),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Inspect(#[from] InspectError),
}

struct Location<'a>(&'a Origin);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.file, self.0.line)
    }
}

/// The settings of a relay's protocol, if the relay uses TLS at all.
pub fn settings(config: &Config, relay: &Relay) -> Result<Option<TlsSettings>, OptionError> {
    let uses_tls = relay.listen.iter().any(|l| l.tls) || relay.forward.iter().any(|f| f.tls);
    if !uses_tls {
        return Ok(None);
    }
    let default = files::default_protocol();
    relayd_tls::settings(files::relay_protocol(config, relay, &default)).map(Some)
}

/// What an operator should hear about `tls ca cert`/`ca key` on `relay`:
/// inspection without `tls ca file` re-signs every backend certificate as
/// trusted, whatever it is; a CA that inspects nothing (relayd.conf(5)'s
/// conditions unmet) is not silently ignored either.
pub fn inspection_warning(config: &Config, relay: &Relay) -> Option<relayd_tls::Warning> {
    let default = files::default_protocol();
    let protocol = files::relay_protocol(config, relay, &default);
    let tls = &protocol.tls;
    let origins = &tls.origins;
    let origin = origins
        .ca_cert
        .clone()
        .or_else(|| origins.ca_key.clone())
        .unwrap_or_else(|| protocol.origin.clone());
    if tls.ca_cert.is_none() && tls.ca_key.is_none() {
        return None;
    }
    let message = if files::inspects(relay, protocol) {
        if tls.ca_file.is_some() {
            return None;
        }
        format!(
            "relay {}: TLS inspection without tls ca file: every backend certificate, \
             whoever issued it, is re-signed by the inspection CA as trusted",
            relay.name
        )
    } else {
        format!(
            "relay {}: tls ca cert/ca key ignored, as relayd does: TLS inspection needs \
             listen on ... tls, forward with tls to destination, tls ca cert and tls ca key",
            relay.name
        )
    };
    Some(relayd_tls::Warning { origin, message })
}

/// The TLS plan of `relay` from the files the parent sent.
pub fn plan(
    config: &Config,
    relay: &Relay,
    received: &[ReceivedFile],
    signer: &Arc<dyn KeySigner>,
    tickets: &Arc<SharedTicketer>,
) -> Result<TlsPlan, TlsPlanError> {
    let Some(settings) = settings(config, relay)? else {
        return Ok(TlsPlan::default());
    };
    let default = files::default_protocol();
    let options = &files::relay_protocol(config, relay, &default).tls;
    let client_roots = if relay.listen.iter().any(|l| l.tls) {
        roots(relay, received, RelayFileKind::ClientCa, &options.client_ca)?
    } else {
        None
    };
    let mut servers = Vec::new();
    // The relay's own key for inspection: its first keypair's.
    let mut relay_key = None;
    for (index, listen) in (0u32..).zip(&relay.listen) {
        if !listen.tls {
            servers.push(None);
            continue;
        }
        let mine: Vec<&ReceivedFile> = received
            .iter()
            .filter(|r| r.file.relay_id == relay.id && r.file.listen == index)
            .collect();
        let mut certified = Vec::new();
        for certificate in mine
            .iter()
            .filter(|r| r.file.kind == RelayFileKind::Certificate)
        {
            let ocsp = mine.iter().find(|r| {
                r.file.kind == RelayFileKind::Ocsp && r.file.name == certificate.file.name
            });
            let key = certified_key(certificate, ocsp.copied(), signer)?;
            if relay_key.is_none() {
                relay_key = Some((*certificate, key.cert.first().cloned()));
            }
            certified.push(Arc::new(key));
        }
        if certified.is_empty() {
            return Err(TlsPlanError::Missing {
                origin: relay.origin.clone(),
                relay: relay.name.clone(),
                what: format!("certificate of {}", listen.addr),
            });
        }
        let resolver = SniResolver::new(certified).map_err(|source| TlsPlanError::Sni {
            origin: relay.origin.clone(),
            relay: relay.name.clone(),
            source,
        })?;
        let parts = ServerParts {
            certificates: Arc::new(resolver),
            client_roots: client_roots.clone(),
            tickets: Some(tickets.clone()),
        };
        let server = server_config(&settings, parts).map_err(|source| TlsPlanError::Server {
            origin: relay.origin.clone(),
            relay: relay.name.clone(),
            source: Box::new(source),
        })?;
        servers.push(Some(server));
    }
    let inspection = if files::inspects(relay, files::relay_protocol(config, relay, &default)) {
        let Some((file, Some(leaf))) = relay_key else {
            return Err(TlsPlanError::Missing {
                origin: relay.origin.clone(),
                relay: relay.name.clone(),
                what: "the relay's own certificate for TLS inspection".into(),
            });
        };
        let ca = inspection_ca(relay, received)?;
        let failed = |e: KeyError| file_error(&file.file, e.into());
        let key = RemoteKey::for_certificate(&leaf, signer.clone()).map_err(failed)?;
        let public = relay_public_key(&leaf).map_err(|e| file_error(&file.file, e.into()))?;
        let parts = (settings.clone(), client_roots.clone(), tickets.clone());
        Some(Arc::new(Inspection::new(
            ca,
            key,
            public,
            signer.clone(),
            parts,
        )))
    } else {
        None
    };
    let backend = if relay.forward.iter().any(|f| f.tls) {
        let ca_file = roots(relay, received, RelayFileKind::CaFile, &options.ca_file)?;
        let client_failed = |e: ClientConfigError| TlsPlanError::Client {
            origin: relay.origin.clone(),
            relay: relay.name.clone(),
            source: Box::new(e),
        };
        let verification =
            BackendTls::verification(&settings, options.verify_name.as_deref(), ca_file)
                .map_err(client_failed)?;
        Some(BackendTls::new(&settings, verification).map_err(client_failed)?)
    } else {
        None
    };
    Ok(TlsPlan {
        servers,
        backend,
        inspection,
    })
}

/// The inspection CA (`tls ca cert`) the parent sent.
fn inspection_ca(relay: &Relay, received: &[ReceivedFile]) -> Result<InspectionCa, TlsPlanError> {
    let Some(file) = received
        .iter()
        .find(|r| r.file.relay_id == relay.id && r.file.kind == RelayFileKind::CaCertificate)
    else {
        return Err(TlsPlanError::Missing {
            origin: relay.origin.clone(),
            relay: relay.name.clone(),
            what: "tls ca cert".into(),
        });
    };
    let failed = |e: KeyError| file_error(&file.file, e.into());
    let chain = keys::certificates(contents(file)?).map_err(failed)?;
    let ca = chain
        .first()
        .ok_or(KeyError::NoCertificate)
        .map_err(failed)?;
    InspectionCa::from_certificate(ca).map_err(|e| file_error(&file.file, e.into()))
}

/// The CA certificates of `tls ca file` or `tls client ca` when the
/// protocol has the option (`path`) and the relay the side it is for.
fn roots(
    relay: &Relay,
    received: &[ReceivedFile],
    kind: RelayFileKind,
    path: &Option<String>,
) -> Result<Option<Arc<RootCertStore>>, TlsPlanError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let Some(file) = received
        .iter()
        .find(|r| r.file.relay_id == relay.id && r.file.kind == kind)
    else {
        // Never checking what the operator asked to check: refuse.
        return Err(TlsPlanError::Missing {
            origin: relay.origin.clone(),
            relay: relay.name.clone(),
            what: format!("{kind} {path}"),
        });
    };
    let store = keys::root_store(contents(file)?).map_err(|e| file_error(&file.file, e.into()))?;
    Ok(Some(Arc::new(store)))
}

fn contents(received: &ReceivedFile) -> Result<&[u8], TlsPlanError> {
    received
        .contents
        .as_deref()
        .map_err(|e| file_error(&received.file, FileReason::Unreadable(clone_error(e))))
}

fn clone_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

fn file_error(file: &RelayFile, reason: FileReason) -> TlsPlanError {
    TlsPlanError::File {
        origin: file.origin.clone(),
        kind: file.kind,
        path: file.path.clone(),
        reason,
    }
}

/// A keypair's chain with a key whose private half is in the ca.
fn certified_key(
    certificate: &ReceivedFile,
    ocsp: Option<&ReceivedFile>,
    signer: &Arc<dyn KeySigner>,
) -> Result<rustls::sign::CertifiedKey, TlsPlanError> {
    let failed = |e: KeyError| file_error(&certificate.file, e.into());
    let chain = keys::certificates(contents(certificate)?).map_err(failed)?;
    let leaf = chain
        .first()
        .ok_or(KeyError::NoCertificate)
        .map_err(failed)?;
    let key = RemoteKey::for_certificate(leaf, signer.clone()).map_err(failed)?;
    let staple = match ocsp {
        Some(ocsp) => Some(contents(ocsp)?.to_vec()),
        None => None,
    };
    Ok(key.certified(chain, staple))
}

/// A TLS client of a `listen on ... tls`, once its handshake is done.
impl Layered for tokio_rustls::server::TlsStream<TcpStream> {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self.get_ref().0)
    }
}

/// A backend of `forward with tls`, once its handshake is done.
impl Layered for tokio_rustls::client::TlsStream<TcpStream> {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self.get_ref().0)
    }

    fn peer_certificate(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        let chain = self.get_ref().1.peer_certificates()?;
        chain.first().map(|leaf| leaf.clone().into_owned())
    }
}
