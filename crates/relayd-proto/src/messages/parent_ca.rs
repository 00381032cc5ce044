//! parent <-> ca (keeper of TLS private keys).

use super::{PeerChannel, RelayFile};
use crate::channel::ImsgChannel;
use crate::config_sync::ConfigPart;
use serde::{Deserialize, Serialize};

// Messages live only between building and sending, so the size of the
// `Config` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToCa {
    Reset,
    Config(ConfigPart),
    ConfigDone,
    Start,
    /// A private key (or its certificate); the frame's descriptor.
    RelayFile(RelayFile),
    SetVerbose(u32),
    PeerChannel(PeerChannel),
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaToParent {
    Ready,
    ConfigDone,
}

/// The parent's end.
pub type ParentSide = ImsgChannel<ParentToCa, CaToParent>;
/// ca's end.
pub type CaSide = ImsgChannel<CaToParent, ParentToCa>;
