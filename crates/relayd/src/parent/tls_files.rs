//! The TLS files of the relays, as the parent handles them: it finds them
//! where relayd.conf(5) says (`/etc/ssl/NAME[:PORT].crt`,
//! `/etc/ssl/private/NAME[:PORT].key`, `/etc/ssl/NAME[:PORT].ocsp`;
//! `$RELAYD_SSL_DIR` stands for `/etc/ssl` in tests), opens them and passes
//! the descriptors: each private key, with its certificate so the ca can
//! check they match, to ca N only; certificates and OCSP staples to relay
//! N. The parent never reads a private key and keeps no descriptor once it
//! is sent: the key's bytes exist only in the ca processes. `relayd -n`
//! (a process of its own, gone when it answers) reads them all to check
//! them ([`check_key_files`]).

use super::links::{EngineMessage, Links};
use super::rollout::Extra;
use relayd_config::{Config, Origin};
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::messages::{RelayFile, RelayFileKind};
use relayd_proto::ProcessKind;
use relayd_tls::files::{self, FileProblem, KeypairFiles};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where tests put their `/etc/ssl`.
pub const SSL_DIR_ENV: &str = "RELAYD_SSL_DIR";

/// The directory of certificates (`private/` holds the keys).
pub fn ssl_dir() -> PathBuf {
    std::env::var_os(SSL_DIR_ENV).map_or_else(|| PathBuf::from(files::SSL_DIR), PathBuf::from)
}

/// A TLS file the parent cannot open.
#[derive(Debug, thiserror::Error)]
#[error("{}:{}: {kind} {path}: {source}", origin.file, origin.line)]
pub struct OpenError {
    pub origin: Origin,
    pub kind: RelayFileKind,
    pub path: String,
    pub source: io::Error,
}

/// Every TLS file problem of a configuration, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", crate::joined::Joined(.0, "\n"))]
pub struct TlsFileErrors(pub Vec<TlsFileError>);

#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Check(#[from] FileProblem),
}

/// One file for one kind of process (every instance gets its own
/// descriptor: they must not share a file offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub to: ProcessKind,
    pub file: RelayFile,
}

/// Every file the TLS relays of `config` need: the relay's `ca file` (with
/// `forward with tls`) and `client ca` (with `listen on ... tls`), then
/// each listener's keypairs in order (the first is its default).
pub fn wanted(config: &Config, dir: &Path) -> Vec<Wanted> {
    let mut all = Vec::new();
    let default = files::default_protocol();
    for relay in &config.relays {
        let protocol = files::relay_protocol(config, relay, &default);
        let tls = &protocol.tls;
        let at =
            |origin: &Option<Origin>| origin.clone().unwrap_or_else(|| protocol.origin.clone());
        let roots = [
            (
                relay.forward.iter().any(|f| f.tls),
                &tls.ca_file,
                &tls.origins.ca_file,
                RelayFileKind::CaFile,
            ),
            (
                relay.listen.iter().any(|l| l.tls),
                &tls.client_ca,
                &tls.origins.client_ca,
                RelayFileKind::ClientCa,
            ),
        ];
        for (used, path, origin, kind) in roots {
            if let (true, Some(path)) = (used, path) {
                all.push(Wanted {
                    to: ProcessKind::Relay,
                    file: RelayFile {
                        relay_id: relay.id,
                        listen: 0,
                        kind,
                        name: kind.to_string(),
                        path: path.clone(),
                        origin: at(origin),
                    },
                });
            }
        }
        if files::inspects(relay, protocol) {
            // The CA certificate to both (the relay names the issuer with
            // it, the ca checks its key against it), the key to ca N only.
            let file = |kind, path: &Option<String>, origin: &Option<Origin>| RelayFile {
                relay_id: relay.id,
                listen: 0,
                kind,
                name: kind.to_string(),
                path: path.clone().unwrap_or_default(),
                origin: at(origin),
            };
            let certificate = file(
                RelayFileKind::CaCertificate,
                &tls.ca_cert,
                &tls.origins.ca_cert,
            );
            all.push(Wanted {
                to: ProcessKind::Relay,
                file: certificate.clone(),
            });
            all.push(Wanted {
                to: ProcessKind::Ca,
                file: certificate,
            });
            all.push(Wanted {
                to: ProcessKind::Ca,
                file: file(RelayFileKind::CaKey, &tls.ca_key, &tls.origins.ca_key),
            });
        }
        for (index, listen) in (0u32..).zip(&relay.listen) {
            if !listen.tls {
                continue;
            }
            for (name, origin) in files::keypair_names(relay, protocol, listen.addr) {
                let located = KeypairFiles::locate(dir, &name, listen.port, Path::exists);
                let file = |kind, path: &Path| RelayFile {
                    relay_id: relay.id,
                    listen: index,
                    kind,
                    name: name.clone(),
                    path: path.display().to_string(),
                    origin: origin.clone(),
                };
                let certificate = file(RelayFileKind::Certificate, &located.certificate);
                all.push(Wanted {
                    to: ProcessKind::Ca,
                    file: file(RelayFileKind::Key, &located.key),
                });
                all.push(Wanted {
                    to: ProcessKind::Ca,
                    file: certificate.clone(),
                });
                all.push(Wanted {
                    to: ProcessKind::Relay,
                    file: certificate,
                });
                if located.ocsp.exists() {
                    all.push(Wanted {
                        to: ProcessKind::Relay,
                        file: file(RelayFileKind::Ocsp, &located.ocsp),
                    });
                }
            }
        }
    }
    all
}

/// Opens a file for reading, without reading it.
pub fn open(file: &RelayFile) -> Result<OwnedFd, OpenError> {
    File::open(&file.path)
        .map(OwnedFd::from)
        .map_err(|source| OpenError {
            origin: file.origin.clone(),
            kind: file.kind,
            path: file.path.clone(),
            source,
        })
}

/// At load: every file can be opened (what is in them, the ca and the
/// relays check when they prepare the configuration).
pub fn check_openable(config: &Config) -> Result<(), TlsFileErrors> {
    let mut problems = Vec::new();
    for wanted in wanted(config, &ssl_dir()) {
        if let Err(e) = open(&wanted.file) {
            let repeated = problems
                .iter()
                .any(|p| matches!(p, TlsFileError::Open(o) if o.path == e.path));
            if !repeated {
                problems.push(e.into());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TlsFileErrors(problems))
    }
}

/// `relayd -n`: every key, certificate and CA file loads and every key
/// matches its certificate.
pub fn check_key_files(config: &Config) -> Result<(), TlsFileErrors> {
    let problems = files::check_files(config, &ssl_dir(), &files::RealFiles);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TlsFileErrors(
            problems.into_iter().map(TlsFileError::Check).collect(),
        ))
    }
}

/// What goes to each relay and ca process with a configuration.
pub fn extras(config: &Config, links: &Links) -> Result<Vec<Extra>, OpenError> {
    let wanted = wanted(config, &ssl_dir());
    let mut extras = Vec::new();
    for kind in [ProcessKind::Relay, ProcessKind::Ca] {
        for link in links.of_kind(kind) {
            for wanted in wanted.iter().filter(|w| w.to == kind) {
                let file = wanted.file.clone();
                let fd = open(&file)?;
                let message = match kind {
                    ProcessKind::Ca => EngineMessage::Ca(ParentToCa::RelayFile(file)),
                    _ => EngineMessage::Relay(ParentToRelay::RelayFile(file)),
                };
                extras.push(Extra {
                    to: link.id(),
                    message,
                    fd: Some(fd),
                });
            }
        }
    }
    Ok(extras)
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{parse_str, LoadOptions};

    fn load(text: &str) -> Config {
        parse_str(text, "t.conf", &LoadOptions::default()).expect("valid config")
    }

    #[test]
    fn keys_go_to_the_ca_alone_and_certificates_to_both() {
        let config = load(
            "http protocol p {\n tls keypair one\n tls keypair two\n}\n\
             relay r {\n listen on 127.0.0.1 port 443 tls\n listen on 127.0.0.1 port 80\n \
             protocol p\n forward to 127.0.0.1 port 8080\n}\n",
        );
        let dir = Path::new("/nonexistent");
        let all = wanted(&config, dir);
        let names: Vec<_> = all
            .iter()
            .map(|w| (w.to, w.file.kind, w.file.name.as_str(), w.file.origin.line))
            .collect();
        use ProcessKind::{Ca, Relay};
        use RelayFileKind::{Certificate, Key};
        assert_eq!(
            names,
            [
                (Ca, Key, "one", 2),
                (Ca, Certificate, "one", 2),
                (Relay, Certificate, "one", 2),
                (Ca, Key, "two", 3),
                (Ca, Certificate, "two", 3),
                (Relay, Certificate, "two", 3),
            ]
        );
        assert!(all.iter().all(|w| w.file.listen == 0));
        assert_eq!(all[0].file.path, "/nonexistent/private/one.key");
        let problems = all
            .iter()
            .map(|w| open(&w.file).unwrap_err().to_string())
            .collect::<Vec<_>>();
        assert!(
            problems[0].starts_with("t.conf:2: private key /nonexistent/private/one.key: "),
            "{problems:?}"
        );
    }

    #[test]
    fn without_keypair_the_listen_address_names_it() {
        let config = load(
            "relay r {\n listen on 127.0.0.1 port 443 tls\n forward to 127.0.0.1 port 80\n}\n",
        );
        let all = wanted(&config, Path::new("/x"));
        assert_eq!(all[0].file.path, "/x/private/127.0.0.1.key");
        assert_eq!(all[0].file.origin.line, 1);
    }
}
