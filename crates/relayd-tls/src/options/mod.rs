//! relayd.conf's `tls { ... }` options of a protocol -> the settings rustls
//! is built with, for the server side (clients) and the client side
//! (backends) alike, as relayd applies the same options to both.
//!
//! What relayd parses and ignores is accepted with a warning naming its
//! line; what relayd applies but rustls cannot do is refused naming the
//! file, line and option. Nothing is ignored silently.

pub mod ciphers;
pub mod curves;

use relayd_config::{EdhParams, Origin, Protocol, TlsOptions};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use std::fmt;
use std::sync::Arc;

/// The rustls side of a protocol's `tls` options.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The protocol these settings come from, for messages.
    pub protocol: String,
    /// aws-lc-rs with the suites of `ciphers` and the groups of `ecdhe`.
    pub provider: Arc<CryptoProvider>,
    /// TLS 1.3 and/or 1.2, as switched on.
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// `cipher-server-preference` (relayd's default): the server's order
    /// of suites wins over the client's.
    pub server_cipher_order: bool,
    /// `session tickets` (off unless configured).
    pub session_tickets: bool,
    /// What the operator wrote that changes nothing here; log each once.
    pub warnings: Vec<Warning>,
}

/// Something accepted but without effect, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Location(&self.origin), self.message)
    }
}

/// An option rustls cannot honour, refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: protocol {protocol}: tls {option}: {reason}", Location(origin))]
pub struct OptionError {
    pub origin: Origin,
    pub protocol: String,
    /// The option as written in relayd.conf (`edh`, `ciphers`, ...).
    pub option: &'static str,
    pub reason: String,
}

/// `file:line` of an origin.
pub(crate) struct Location<'a>(pub &'a Origin);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.file, self.0.line)
    }
}

/// The settings of `protocol`'s `tls` options.
pub fn settings(protocol: &Protocol) -> Result<TlsSettings, OptionError> {
    Mapper {
        protocol,
        tls: &protocol.tls,
        warnings: Vec::new(),
    }
    .map()
}

struct Mapper<'a> {
    protocol: &'a Protocol,
    tls: &'a TlsOptions,
    warnings: Vec<Warning>,
}

impl Mapper<'_> {
    fn map(mut self) -> Result<TlsSettings, OptionError> {
        let tls = self.tls;
        let origins = &tls.origins;
        if let Some(params @ (EdhParams::Auto | EdhParams::Legacy)) = tls.edh {
            let written = if params == EdhParams::Legacy {
                "edh params legacy"
            } else {
                "edh"
            };
            return Err(self.error(
                &origins.edh,
                "edh",
                format!(
                    "{written} asks for finite-field Diffie-Hellman (DHE) key exchange, \
                     which rustls does not have; remove it (ECDHE is always offered)"
                ),
            ));
        }
        let ignored = [
            (tls.sslv3, &origins.sslv3, "sslv3", "SSLv3"),
            (tls.tlsv1_0, &origins.tlsv1_0, "tlsv1.0", "TLS 1.0"),
            (tls.tlsv1_1, &origins.tlsv1_1, "tlsv1.1", "TLS 1.1"),
        ];
        for (enabled, origin, option, version) in ignored {
            if enabled == Some(true) {
                self.warn(
                    origin,
                    format!(
                        "tls {option} ignored, as relayd does: {version} is not offered \
                         (rustls speaks TLS 1.2 and 1.3 only)"
                    ),
                );
            }
        }
        if tls.client_renegotiation == Some(true) {
            self.warn(
                &origins.client_renegotiation,
                "tls client-renegotiation ignored, as relayd does: renegotiation is \
                 never offered (rustls has none)"
                    .to_string(),
            );
        }
        let ciphers = self.ciphers()?;
        let kx_groups = self.curves()?;
        let versions = self.versions(&ciphers)?;
        let provider = CryptoProvider {
            cipher_suites: ciphers,
            kx_groups,
            ..aws_lc_rs::default_provider()
        };
        Ok(TlsSettings {
            protocol: self.protocol.name.clone(),
            provider: Arc::new(provider),
            versions,
            server_cipher_order: tls.cipher_server_preference.unwrap_or(true),
            session_tickets: tls.session_tickets.unwrap_or(false),
            warnings: self.warnings,
        })
    }

    fn ciphers(&mut self) -> Result<Vec<SupportedCipherSuite>, OptionError> {
        let written = self.tls.ciphers.as_deref();
        let origin = &self.tls.origins.ciphers;
        let selection = ciphers::select(written.unwrap_or(ciphers::DEFAULT_CIPHERS))
            .map_err(|e| self.error(origin, "ciphers", e.to_string()))?;
        for term in &selection.unmatched {
            self.warn(
                origin,
                format!("tls ciphers: {term} selects no cipher suite rustls has, skipped"),
            );
        }
        Ok(selection.suites)
    }

    fn curves(
        &mut self,
    ) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, OptionError> {
        let origin = &self.tls.origins.ecdhe;
        let written = self.tls.ecdhe.as_deref().unwrap_or(curves::DEFAULT_CURVES);
        let selection =
            curves::select(written).map_err(|e| self.error(origin, "ecdhe", e.to_string()))?;
        for curve in &selection.unsupported {
            self.warn(
                origin,
                format!("tls ecdhe: rustls has no curve {curve}, skipped"),
            );
        }
        Ok(selection.groups)
    }

    /// TLS 1.3 and 1.2 as switched on, each only if a suite for it was
    /// selected.
    fn versions(
        &mut self,
        ciphers: &[SupportedCipherSuite],
    ) -> Result<Vec<&'static SupportedProtocolVersion>, OptionError> {
        let tls = self.tls;
        let wanted = [
            (tls.tlsv1_3.unwrap_or(true), &rustls::version::TLS13),
            (tls.tlsv1_2.unwrap_or(true), &rustls::version::TLS12),
        ];
        let mut versions = Vec::new();
        for (enabled, version) in wanted {
            if !enabled {
                continue;
            }
            if ciphers.iter().any(|s| s.version() == version) {
                versions.push(version);
            } else {
                let name = version_name(version);
                self.warn(
                    &tls.origins.ciphers,
                    format!("tls ciphers select no {name} suite: {name} is off"),
                );
            }
        }
        if versions.is_empty() {
            let origin = [
                &tls.origins.tlsv1_2,
                &tls.origins.tlsv1_3,
                &tls.origins.ciphers,
            ]
            .into_iter()
            .flatten()
            .next()
            .cloned();
            return Err(self.error(
                &origin,
                "protocols",
                "no TLS version is left that rustls speaks with the selected ciphers \
                 (TLS 1.2 and 1.3 only)"
                    .to_string(),
            ));
        }
        Ok(versions)
    }

    fn warn(&mut self, origin: &Option<Origin>, message: String) {
        let origin = self.at(origin);
        self.warnings.push(Warning {
            origin,
            message: format!("protocol {}: {message}", self.protocol.name),
        });
    }

    fn error(&self, origin: &Option<Origin>, option: &'static str, reason: String) -> OptionError {
        OptionError {
            origin: self.at(origin),
            protocol: self.protocol.name.clone(),
            option,
            reason,
        }
    }

    /// The option's line, or the protocol's when it was not written.
    fn at(&self, origin: &Option<Origin>) -> Origin {
        origin
            .clone()
            .unwrap_or_else(|| self.protocol.origin.clone())
    }
}

fn version_name(version: &SupportedProtocolVersion) -> &'static str {
    if version == &rustls::version::TLS13 {
        "TLS 1.3"
    } else {
        "TLS 1.2"
    }
}

#[cfg(test)]
mod tests;
