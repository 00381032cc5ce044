//! parent <-> pfe (packet filter engine: nftables redirections, routers'
//! routes).

use super::agentx::MibView;
use super::{ToChild, ToParent};
use crate::channel::ImsgChannel;
use crate::correlate::RequestId;
use crate::status::{RedirectState, Statistics};
use relayd_config::ObjectId;
use relayd_route::RoutePlan;
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
    /// The routers of the configuration being sent, as the parent checked
    /// them (with the `rtlabel` realms it read from `rt_realms`): sent
    /// with each configuration, between its parts and `ConfigDone`.
    RoutePlan(RoutePlan),
    RouterEnable(ObjectId),
    RouterDisable(ObjectId),
    /// The answer to [`PfeToParent::AgentxConnect`]: the frame's
    /// descriptor is a Unix socket connected to the AgentX master, or
    /// there is none and `error` says why (the pfe asks again in 3 s).
    AgentxSocket {
        error: Option<String>,
    },
    /// The answer to [`PfeToParent::MibView`].
    MibView {
        request_id: RequestId,
        view: Box<MibView>,
    },
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
    /// `agentx`: connect the master's socket (the configuration's path,
    /// outside the chroot) and send it (relayd's IMSG_AGENTXSOCK).
    AgentxConnect,
    /// The master asked for relayd's MIB: send the view to answer from.
    MibView {
        request_id: RequestId,
    },
}

/// The parent's end.
pub type ParentPfeChannel = ImsgChannel<ToChild<ParentToPfe>, ToParent<PfeToParent>>;
/// The pfe's end.
pub type PfeParentChannel = ImsgChannel<ToParent<PfeToParent>, ToChild<ParentToPfe>>;
