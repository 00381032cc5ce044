//! parent <-> pfe (packet filter engine: nftables redirections).

use super::{ToChild, ToParent};
use crate::channel::ImsgChannel;
use crate::status::{RedirectState, Statistics};
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};

/// parent -> pfe, beside the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToPfe {
    HostEnable(ObjectId),
    HostDisable(ObjectId),
    TableEnable(ObjectId),
    TableDisable(ObjectId),
    RedirectEnable(ObjectId),
    RedirectDisable(ObjectId),
}

/// State and counters of one redirect, sent when they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectReport {
    pub redirect_id: ObjectId,
    pub state: RedirectState,
    pub stats: Statistics,
}

/// pfe -> parent, beside the lifecycle answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfeToParent {
    Redirect(RedirectReport),
    /// The active hosts of this table changed (monitor event).
    TableChanged(ObjectId),
    /// Installing rules failed; the parent logs it.
    Error(String),
}

/// The parent's end.
pub type ParentPfeChannel = ImsgChannel<ToChild<ParentToPfe>, ToParent<PfeToParent>>;
/// The pfe's end.
pub type PfeParentChannel = ImsgChannel<ToParent<PfeToParent>, ToChild<ParentToPfe>>;
