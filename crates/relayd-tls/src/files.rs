//! Which files a TLS relay uses (relayd.conf(5), relayd's
//! `relay_load_certfiles`), and the check `relayd -n` makes of them.
//!
//! `keypair NAME` (or, without any keypair, the listen address as NAME):
//! `/etc/ssl/NAME:PORT.crt` with `/etc/ssl/private/NAME:PORT.key` and the
//! OCSP staple `/etc/ssl/NAME:PORT.ocsp`, where PORT is the listen port;
//! when that certificate does not exist, `/etc/ssl/NAME.crt`,
//! `/etc/ssl/private/NAME.key` and `/etc/ssl/NAME.ocsp`. The staple is
//! optional.

use crate::keys::{self, KeyError};
use crate::options::Location;
use relayd_config::{Config, Origin, Protocol, Relay};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where certificates live (`/etc/ssl`).
pub const SSL_DIR: &str = "/etc/ssl";

/// The files of one keypair of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeypairFiles {
    /// The keypair name (or the listen address).
    pub name: String,
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Stapled when it exists and is not empty.
    pub ocsp: PathBuf,
}

impl KeypairFiles {
    /// relayd's choice for `name` on `port`, under `dir` (`/etc/ssl`):
    /// `NAME:PORT.*` if that certificate exists, else `NAME.*`.
    pub fn locate(
        dir: &Path,
        name: &str,
        port: u16,
        exists: impl Fn(&Path) -> bool,
    ) -> KeypairFiles {
        let with_port = format!("{name}:{port}");
        let certificate = dir.join(format!("{with_port}.crt"));
        let stem = if exists(&certificate) {
            with_port
        } else {
            name.to_string()
        };
        KeypairFiles {
            name: name.to_string(),
            certificate: dir.join(format!("{stem}.crt")),
            key: dir.join("private").join(format!("{stem}.key")),
            ocsp: dir.join(format!("{stem}.ocsp")),
        }
    }
}

/// The keypair name of a listener without `keypair` lines: its address as
/// relayd prints it (IPv6 without brackets).
pub fn default_keypair_name(addr: IpAddr) -> String {
    addr.to_string()
}

/// The keypair names of a relay's protocol with the line of each; the
/// listen address (at the relay's line) when there are none.
pub fn keypair_names(relay: &Relay, protocol: &Protocol, addr: IpAddr) -> Vec<(String, Origin)> {
    if protocol.tls.keypairs.is_empty() {
        return vec![(default_keypair_name(addr), relay.origin.clone())];
    }
    let origins = &protocol.tls.origins.keypairs;
    protocol
        .tls
        .keypairs
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let origin = origins
                .get(i)
                .cloned()
                .unwrap_or_else(|| protocol.origin.clone());
            (name.clone(), origin)
        })
        .collect()
}

/// A file of the TLS configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub struct FileProblem {
    /// The configuration line that makes the file needed.
    pub origin: Origin,
    pub path: PathBuf,
    /// `certificate`, `private key`, `ca file`, ...
    pub role: &'static str,
    pub reason: FileReason,
}

#[derive(Debug, thiserror::Error)]
pub enum FileReason {
    #[error("{0}")]
    Unreadable(io::Error),
    #[error("{0}")]
    Key(KeyError),
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            Location(&self.origin),
            self.role,
            self.path.display(),
            self.reason
        )
    }
}

/// Reads files for [`check_files`]; the daemon reads the real ones.
pub trait ReadFile {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
}

/// The file system.
pub struct RealFiles;

impl ReadFile for RealFiles {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// The protocol a relay without one gets: no options, relayd's defaults.
pub fn default_protocol() -> Protocol {
    Protocol {
        id: 0,
        name: "default".into(),
        kind: Default::default(),
        tcp: Default::default(),
        tls: Default::default(),
        http: Default::default(),
        return_error: None,
        rules: Vec::new(),
        origin: Origin::default(),
    }
}

/// The protocol of `relay`, or `default` when it names none (or one the
/// file lacks, which the configuration refuses elsewhere).
pub fn relay_protocol<'a>(
    config: &'a Config,
    relay: &Relay,
    default: &'a Protocol,
) -> &'a Protocol {
    relay
        .protocol
        .as_deref()
        .and_then(|name| config.protocol(name))
        .unwrap_or(default)
}

/// Whether `relay` inspects TLS, under relayd.conf(5)'s four conditions:
/// `listen on ... tls`, `forward with tls to destination` (or `nat
/// lookup`), `tls ca cert` and `tls ca key`.
pub fn inspects(relay: &Relay, protocol: &Protocol) -> bool {
    let tls = &protocol.tls;
    relay.listen.iter().any(|l| l.tls)
        && relay.forward.iter().any(|f| {
            f.tls
                && matches!(
                    f.target,
                    relayd_config::ForwardTarget::Destination
                        | relayd_config::ForwardTarget::NatLookup
                )
        })
        && tls.ca_cert.is_some()
        && tls.ca_key.is_some()
}

/// `relayd -n` for TLS: every certificate, key and CA file the relays
/// need loads, and each key matches its certificate. Each problem names
/// the file and the configuration line.
pub fn check_files(config: &Config, dir: &Path, files: &dyn ReadFile) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    let default_protocol = default_protocol();
    for relay in &config.relays {
        let protocol = relay_protocol(config, relay, &default_protocol);
        let mut checker = Checker {
            files,
            problems: &mut problems,
        };
        for listen in relay.listen.iter().filter(|l| l.tls) {
            for (name, origin) in keypair_names(relay, protocol, listen.addr) {
                let located = KeypairFiles::locate(dir, &name, listen.port, |p| p.exists());
                checker.keypair(&located, &origin);
            }
        }
        let tls = &protocol.tls;
        let origins = &tls.origins;
        let at =
            |origin: &Option<Origin>| origin.clone().unwrap_or_else(|| protocol.origin.clone());
        if relay.forward.iter().any(|f| f.tls) {
            if let Some(path) = &tls.ca_file {
                checker.roots(Path::new(path), &at(&origins.ca_file), "ca file");
            }
        }
        if relay.listen.iter().any(|l| l.tls) {
            if let Some(path) = &tls.client_ca {
                checker.roots(Path::new(path), &at(&origins.client_ca), "client ca");
            }
        }
        if let (Some(cert), Some(key)) = (&tls.ca_cert, &tls.ca_key) {
            checker.ca_pair(
                (Path::new(cert), &at(&origins.ca_cert)),
                (Path::new(key), &at(&origins.ca_key)),
                tls.ca_key_password.as_deref(),
            );
        }
    }
    problems
}

struct Checker<'a> {
    files: &'a dyn ReadFile,
    problems: &'a mut Vec<FileProblem>,
}

impl Checker<'_> {
    fn read(&mut self, path: &Path, origin: &Origin, role: &'static str) -> Option<Vec<u8>> {
        match self.files.read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.problem(path, origin, role, FileReason::Unreadable(e));
                None
            }
        }
    }

    fn problem(&mut self, path: &Path, origin: &Origin, role: &'static str, reason: FileReason) {
        self.problems.push(FileProblem {
            origin: origin.clone(),
            path: path.to_path_buf(),
            role,
            reason,
        });
    }

    fn keypair(&mut self, files: &KeypairFiles, origin: &Origin) {
        self.pair(
            (&files.certificate, origin),
            (&files.key, origin),
            None,
            ("certificate", "private key"),
        );
    }

    fn ca_pair(&mut self, cert: (&Path, &Origin), key: (&Path, &Origin), password: Option<&str>) {
        self.pair(cert, key, password, ("ca cert", "ca key"));
    }

    fn pair(
        &mut self,
        (cert_path, cert_origin): (&Path, &Origin),
        (key_path, key_origin): (&Path, &Origin),
        password: Option<&str>,
        (cert_role, key_role): (&'static str, &'static str),
    ) {
        let cert = self.read(cert_path, cert_origin, cert_role);
        let key = self.read(key_path, key_origin, key_role);
        let leaf = cert.and_then(|pem| match keys::certificates(&pem) {
            Ok(chain) => chain.into_iter().next(),
            Err(e) => {
                self.problem(cert_path, cert_origin, cert_role, FileReason::Key(e));
                None
            }
        });
        let Some(key) = key else { return };
        let key = match keys::private_key(&key, password) {
            Ok(key) => key,
            Err(e) => return self.problem(key_path, key_origin, key_role, FileReason::Key(e)),
        };
        if let Some(leaf) = leaf {
            if let Err(e) = keys::matching_key_id(&leaf, &key) {
                self.problem(key_path, key_origin, key_role, FileReason::Key(e));
            }
        }
    }

    fn roots(&mut self, path: &Path, origin: &Origin, role: &'static str) {
        if let Some(pem) = self.read(path, origin, role) {
            if let Err(e) = keys::root_store(&pem) {
                self.problem(path, origin, role, FileReason::Key(e));
            }
        }
    }
}
