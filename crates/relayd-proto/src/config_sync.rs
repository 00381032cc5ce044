//! Configuration distribution: the parent cuts a [`Config`] into
//! [`ConfigPart`]s, keeping for each child only the kinds of part it wants
//! (which process wants what is the daemon's process table), and the child
//! puts them back together with a [`ConfigAssembler`].
//!
//! On the wire (`messages::Lifecycle`): `Reset`, one `Config(part)` per
//! part, then `ConfigDone`; the child answers with its verdict and runs the
//! configuration at `Start` (see `messages::lifecycle`).

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

/// The kinds of [`ConfigPart`], to say which a process wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartKind {
    Global,
    Table,
    Protocol,
    Redirect,
    Relay,
    Router,
}

impl PartKind {
    pub const ALL: [PartKind; 6] = [
        PartKind::Global,
        PartKind::Table,
        PartKind::Protocol,
        PartKind::Redirect,
        PartKind::Relay,
        PartKind::Router,
    ];
}

impl ConfigPart {
    pub fn kind(&self) -> PartKind {
        match self {
            ConfigPart::Global(_) => PartKind::Global,
            ConfigPart::Table(_) => PartKind::Table,
            ConfigPart::Redirect(_) => PartKind::Redirect,
            ConfigPart::Relay(_) => PartKind::Relay,
            ConfigPart::Protocol(_) => PartKind::Protocol,
            ConfigPart::Router(_) => PartKind::Router,
        }
    }
}

/// The parts of `config` of the `wanted` kinds, in the order the parent
/// sends them: global first, tables before what refers to them.
pub fn config_parts(config: &Config, wanted: &[PartKind]) -> Vec<ConfigPart> {
    let all = std::iter::once(ConfigPart::Global(config.global.clone()))
        .chain(config.tables.iter().cloned().map(ConfigPart::Table))
        .chain(config.protocols.iter().cloned().map(ConfigPart::Protocol))
        .chain(config.redirects.iter().cloned().map(ConfigPart::Redirect))
        .chain(config.relays.iter().cloned().map(ConfigPart::Relay))
        .chain(config.routers.iter().cloned().map(ConfigPart::Router));
    all.filter(|part| wanted.contains(&part.kind())).collect()
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
