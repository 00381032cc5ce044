//! relay N <-> pfe: the original destination of a redirected datagram
//! (relayd's `IMSG_NATLOOK`). A dns relay with `forward to destination` or
//! `nat lookup` asks for each query; the pfe looks the flow up in the
//! kernel's connection tracking (CAP_NET_ADMIN) and answers.

use crate::channel::ImsgChannel;
use crate::correlate::RequestId;
use relayd_config::IpProto;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Where was this flow going before it was redirected to the relay?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatLookRequest {
    pub request_id: RequestId,
    pub proto: IpProto,
    /// The client's address and port (the datagram's source).
    pub client: SocketAddr,
    /// The relay's address and port the datagram reached.
    pub listen: SocketAddr,
}

/// What the connection tracking says about one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NatLookResult {
    /// The destination the client sent to (the listen address itself
    /// when nothing redirected the flow).
    Destination(SocketAddr),
    /// No tracked flow between the client and the listen address.
    NoEntry,
    /// The lookup could not be made (no conntrack, a kernel error), in
    /// the pfe's words.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatLookAnswer {
    pub request_id: RequestId,
    pub result: NatLookResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToPfe {
    NatLook(NatLookRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfeToRelay {
    NatLook(NatLookAnswer),
}

/// A relay process's end (one channel per relay process).
pub type RelayPfeChannel = ImsgChannel<RelayToPfe, PfeToRelay>;
/// The pfe's end.
pub type PfeRelayChannel = ImsgChannel<PfeToRelay, RelayToPfe>;
