//! The TLS relay most TLS tests start: a scratch `/etc/ssl` with keypair
//! `www` for www.test and a relayd terminating TLS with it in front of a
//! backend the test started.

use std::path::PathBuf;

use crate::config::tls_relay_config;
use crate::daemon::Daemon;
use crate::ports::free_port;
use crate::tls_keys::SslDir;

/// A relayd with one relay `www` terminating TLS on `port` with keypair
/// `www` (certificate for www.test and 127.0.0.1). Fields drop in order:
/// relayd stops before its key directory goes.
pub struct TlsRelay {
    pub daemon: Daemon,
    pub port: u16,
    /// The relay's certificate, self-signed: what a client trusts.
    pub ca: PathBuf,
    pub ssl: SslDir,
}

impl TlsRelay {
    /// Makes the keypair and starts relayd (`KIND protocol p`, `relay_lines`
    /// in the relay block) forwarding to 127.0.0.1:`backend`.
    pub fn start(label: &str, kind: &str, backend: u16, relay_lines: &[&str]) -> TlsRelay {
        let ssl = SslDir::new(label);
        let ca = ssl.keypair("www", &["www.test"]);
        let port = free_port();
        let config = tls_relay_config(1, kind, port, backend, &["www"], relay_lines);
        let daemon = Daemon::start_with_ssl(label, &config, &ssl);
        TlsRelay {
            daemon,
            port,
            ca,
            ssl,
        }
    }
}
