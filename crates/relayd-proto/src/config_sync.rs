//! Configuration distribution: the parent cuts a [`Config`] into
//! [`ConfigPart`]s, keeping for each child only what it needs, and the child
//! puts them back together with a [`ConfigAssembler`].
//!
//! On the wire (in every parent -> child enum): `Reset`, then one
//! `Config(part)` per part, then the `ConfigDone` barrier; the child answers
//! `ConfigDone` once it applied the new configuration. The parent then sends
//! `Start` when all children are done, as relayd does.

use crate::process::ProcessKind;
use relayd_config::{Config, Global, Protocol, Redirect, Relay, Router, Table};
use serde::{Deserialize, Serialize};

/// One piece of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigPart {
    Global(Global),
    Table(Table),
    Redirect(Redirect),
    Relay(Relay),
    Protocol(Protocol),
    Router(Router),
}

/// What a process of kind `process` needs, in the order the parent sends it
/// (global first, tables before what refers to them).
fn wants(process: ProcessKind, part: &ConfigPart) -> bool {
    use ConfigPart as P;
    use ProcessKind as K;
    matches!(
        (process, part),
        (_, P::Global(_))
            | (K::Parent, _)
            | (K::Hce, P::Table(_))
            | (K::Pfe, P::Table(_) | P::Redirect(_) | P::Router(_))
            | (K::Relay, P::Table(_) | P::Protocol(_) | P::Relay(_))
            | (K::Ca, P::Protocol(_) | P::Relay(_))
    )
}

/// The parts of `config` a process of kind `process` needs.
pub fn config_parts(config: &Config, process: ProcessKind) -> Vec<ConfigPart> {
    let all = std::iter::once(ConfigPart::Global(config.global.clone()))
        .chain(config.tables.iter().cloned().map(ConfigPart::Table))
        .chain(config.protocols.iter().cloned().map(ConfigPart::Protocol))
        .chain(config.redirects.iter().cloned().map(ConfigPart::Redirect))
        .chain(config.relays.iter().cloned().map(ConfigPart::Relay))
        .chain(config.routers.iter().cloned().map(ConfigPart::Router));
    all.filter(|part| wants(process, part)).collect()
}

/// Collects parts on the child side.
#[derive(Debug, Default)]
pub struct ConfigAssembler {
    config: Config,
}

impl ConfigAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops what was collected so far (on `Reset`).
    pub fn reset(&mut self) {
        self.config = Config::default();
    }

    pub fn add(&mut self, part: ConfigPart) {
        match part {
            ConfigPart::Global(global) => self.config.global = global,
            ConfigPart::Table(table) => self.config.tables.push(table),
            ConfigPart::Redirect(redirect) => self.config.redirects.push(redirect),
            ConfigPart::Relay(relay) => self.config.relays.push(relay),
            ConfigPart::Protocol(protocol) => self.config.protocols.push(protocol),
            ConfigPart::Router(router) => self.config.routers.push(router),
        }
    }

    /// The assembled configuration (on `ConfigDone`); the assembler starts
    /// empty again.
    pub fn finish(&mut self) -> Config {
        std::mem::take(&mut self.config)
    }
}
