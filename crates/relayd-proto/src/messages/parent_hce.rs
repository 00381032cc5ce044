//! parent <-> hce (host check engine).

use super::{IcmpFamily, PeerChannel, ScriptRequest, ScriptResult};
use crate::channel::ImsgChannel;
use crate::config_sync::ConfigPart;
use crate::status::HostStatus;
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};

// Messages live only between building and sending, so the size of the
// `Config` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToHce {
    /// A new configuration follows; forget the old one when it is done.
    Reset,
    Config(ConfigPart),
    /// All parts sent; apply and answer `ConfigDone`.
    ConfigDone,
    /// Every child has its configuration: start checking.
    Start,
    HostEnable(ObjectId),
    HostDisable(ObjectId),
    TableEnable(ObjectId),
    TableDisable(ObjectId),
    /// Check all hosts now.
    Poll,
    /// New log verbosity (0 brief, higher more verbose).
    SetVerbose(u32),
    ScriptResult(ScriptResult),
    /// A socket to another child; the frame's descriptor.
    PeerChannel(PeerChannel),
    Shutdown,
    /// A raw ICMP socket opened by the parent for `check icmp`; the frame's
    /// descriptor.
    IcmpSocket(IcmpFamily),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HceToParent {
    /// Started and waiting for configuration.
    Ready,
    /// The configuration sent so far is applied.
    ConfigDone,
    HostStatus(HostStatus),
    /// A check round finished.
    Sync,
    RunScript(ScriptRequest),
}

/// The parent's end.
pub type ParentSide = ImsgChannel<ParentToHce, HceToParent>;
/// hce's end.
pub type HceSide = ImsgChannel<HceToParent, ParentToHce>;
