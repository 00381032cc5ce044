//! What the pfe's AgentX subagent serves (OPENBSD-RELAYD-MIB): the
//! parent's view of the running configuration and its states, sent for
//! each request the master forwards (`ParentToPfe::MibView`). The rows
//! are those of `relayctl show summary` and `show sessions`, with what the
//! MIB has beyond them (addresses, a router's table).

use crate::status::{HostRow, RedirectRow, RelayRow, RouterRow, SessionRow, TableRow};
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything relaydInfo (enterprises.30155.3.2) shows, each list by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MibView {
    pub redirects: Vec<RedirectRow>,
    pub relays: Vec<RelayRow>,
    pub routers: Vec<MibRouter>,
    pub hosts: Vec<MibHost>,
    pub tables: Vec<MibTable>,
    /// Of every relay process that listed them in time.
    pub sessions: Vec<SessionRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MibRouter {
    pub row: RouterRow,
    /// The table of its `forward to`.
    pub table_id: Option<ObjectId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MibHost {
    pub row: HostRow,
    pub addr: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MibTable {
    pub row: TableRow,
    /// Hosts it has (none: relaydTableStatus `empty`).
    pub hosts: u32,
}
