//! parent <-> relay (one channel per relay process).

use super::{
    BindAnyRequest, BindAnyResult, ListenSocket, RelayFile, TicketKeys, ToChild, ToParent,
};
use crate::channel::ImsgChannel;
use crate::correlate::RequestId;
use crate::status::{SessionRow, Statistics};
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};

/// parent -> relay, beside the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToRelay {
    HostEnable(ObjectId),
    HostDisable(ObjectId),
    TableEnable(ObjectId),
    TableDisable(ObjectId),
    /// A bound listening socket of the configuration being rolled out (sent
    /// before its `ConfigDone`); the frame's descriptor.
    ListenSocket(ListenSocket),
    /// A certificate (never a private key: those go to ca); the frame's
    /// descriptor.
    RelayFile(RelayFile),
    BindAnyResult(BindAnyResult),
    /// Send your sessions as `Session` rows, then `SessionsEnd`.
    ListSessions {
        request_id: RequestId,
    },
    /// Graceful stop: accept nothing more, let the sessions end, say
    /// `Drained` once the last one did.
    Drain,
    /// The session ticket keys every relay process shares (with each
    /// configuration that has `tls session tickets`, and on every
    /// rotation).
    TicketKeys(TicketKeys),
}

/// relay -> parent, beside the lifecycle answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToParent {
    /// Counters of one relay in this process (periodically).
    Statistics(Statistics),
    Session {
        request_id: RequestId,
        session: SessionRow,
    },
    SessionsEnd {
        request_id: RequestId,
    },
    BindAny(BindAnyRequest),
    /// After `Drain`: this process has no session left.
    Drained,
}

/// The parent's end.
pub type ParentRelayChannel = ImsgChannel<ToChild<ParentToRelay>, ToParent<RelayToParent>>;
/// A relay process's end.
pub type RelayParentChannel = ImsgChannel<ToParent<RelayToParent>, ToChild<ParentToRelay>>;
