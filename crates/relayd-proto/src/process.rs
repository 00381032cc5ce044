//! The kinds of relayd processes, as relayd's `privsep_procid`.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProcessKind {
    Parent,
    /// Host check engine.
    Hce,
    /// Packet filter engine (nftables on Linux).
    Pfe,
    Relay,
    /// Holds TLS private keys.
    Ca,
    /// Serves the Prometheus endpoint (`metrics listen on`, an extension).
    Metrics,
}

impl ProcessKind {
    pub const ALL: [ProcessKind; 6] = [
        ProcessKind::Parent,
        ProcessKind::Hce,
        ProcessKind::Pfe,
        ProcessKind::Relay,
        ProcessKind::Ca,
        ProcessKind::Metrics,
    ];

    /// The name relayd gives the process (`relayd: hce`).
    pub fn title(self) -> &'static str {
        match self {
            ProcessKind::Parent => "parent",
            ProcessKind::Hce => "hce",
            ProcessKind::Pfe => "pfe",
            ProcessKind::Relay => "relay",
            ProcessKind::Ca => "ca",
            ProcessKind::Metrics => "metrics",
        }
    }

    /// The inverse of [`title`](Self::title).
    pub fn from_title(title: &str) -> Option<ProcessKind> {
        Self::ALL.into_iter().find(|kind| kind.title() == title)
    }
}

impl fmt::Display for ProcessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}
