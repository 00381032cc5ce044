//! parent <-> relay (one channel per relay process).

use super::{BindAnyRequest, BindAnyResult, ListenSocket, PeerChannel, RelayFile};
use crate::channel::ImsgChannel;
use crate::config_sync::ConfigPart;
use crate::status::{SessionRow, Statistics};
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};

// Messages live only between building and sending, so the size of the
// `Config` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToRelay {
    Reset,
    Config(ConfigPart),
    ConfigDone,
    Start,
    HostEnable(ObjectId),
    HostDisable(ObjectId),
    TableEnable(ObjectId),
    TableDisable(ObjectId),
    SetVerbose(u32),
    /// A bound listening socket; the frame's descriptor.
    ListenSocket(ListenSocket),
    /// A certificate (never a private key: those go to ca); the frame's
    /// descriptor.
    RelayFile(RelayFile),
    BindAnyResult(BindAnyResult),
    /// Send your sessions as `Session` rows, then `SessionsEnd`.
    ListSessions {
        request_id: u64,
    },
    PeerChannel(PeerChannel),
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToParent {
    Ready,
    ConfigDone,
    /// Counters of one relay in this process (periodically).
    Statistics(Statistics),
    Session {
        request_id: u64,
        session: SessionRow,
    },
    SessionsEnd {
        request_id: u64,
    },
    BindAny(BindAnyRequest),
}

/// The parent's end.
pub type ParentSide = ImsgChannel<ParentToRelay, RelayToParent>;
/// A relay process's end.
pub type RelaySide = ImsgChannel<RelayToParent, ParentToRelay>;
