//! parent <-> hce (host check engine).

use super::{IcmpFamily, ScriptRequest, ScriptResult, ToChild, ToParent};
use crate::channel::ImsgChannel;
use crate::status::HostStatus;
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};

/// parent -> hce, beside the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToHce {
    HostEnable(ObjectId),
    HostDisable(ObjectId),
    TableEnable(ObjectId),
    TableDisable(ObjectId),
    /// Check all hosts now.
    Poll,
    ScriptResult(ScriptResult),
    /// A raw ICMP socket opened by the parent for `check icmp`; the frame's
    /// descriptor.
    IcmpSocket(IcmpFamily),
}

/// hce -> parent, beside the lifecycle answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HceToParent {
    HostStatus(HostStatus),
    /// A check round finished.
    Sync,
    RunScript(ScriptRequest),
}

/// The parent's end.
pub type ParentHceChannel = ImsgChannel<ToChild<ParentToHce>, ToParent<HceToParent>>;
/// The hce's end.
pub type HceParentChannel = ImsgChannel<ToParent<HceToParent>, ToChild<ParentToHce>>;
