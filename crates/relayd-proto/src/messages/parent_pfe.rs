//! parent <-> pfe (packet filter engine: nftables redirections).

use super::PeerChannel;
use crate::channel::ImsgChannel;
use crate::config_sync::ConfigPart;
use crate::status::{RedirectState, Statistics};
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};

// Messages live only between building and sending, so the size of the
// `Config` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToPfe {
    Reset,
    Config(ConfigPart),
    ConfigDone,
    Start,
    HostEnable(ObjectId),
    HostDisable(ObjectId),
    TableEnable(ObjectId),
    TableDisable(ObjectId),
    RedirectEnable(ObjectId),
    RedirectDisable(ObjectId),
    SetVerbose(u32),
    PeerChannel(PeerChannel),
    Shutdown,
}

/// State and counters of one redirect, sent when they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectReport {
    pub redirect_id: ObjectId,
    pub state: RedirectState,
    pub stats: Statistics,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfeToParent {
    Ready,
    ConfigDone,
    Redirect(RedirectReport),
    /// The active hosts of this table changed (monitor event).
    TableChanged(ObjectId),
    /// Installing rules failed; the parent logs it.
    Error(String),
}

/// The parent's end.
pub type ParentSide = ImsgChannel<ParentToPfe, PfeToParent>;
/// pfe's end.
pub type PfeSide = ImsgChannel<PfeToParent, ParentToPfe>;
