//! Runtime state of hosts, tables, redirects, relays, routers and sessions:
//! what the engines report and what relayctl prints. Plain data, shared by
//! the daemon (producer) and relayctl (consumer).

pub use crate::host_error::HostError;
use relayd_config::{ObjectId, Prefix};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Health of one host as the check engine sees it (relayd's
/// `enum host_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum HostState {
    /// Not checked yet (or its table is not checked).
    #[default]
    Unknown,
    Up,
    Down,
}

impl HostState {
    /// The word relayctl prints.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Unknown => "unknown",
            HostState::Up => "up",
            HostState::Down => "down",
        }
    }
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host status update (hce -> pfe/relay/parent), also the body of
/// `show hosts` rows and `host_status` monitor events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostStatus {
    pub host_id: ObjectId,
    pub table_id: ObjectId,
    pub state: HostState,
    /// Checks done since start.
    pub check_count: u64,
    /// Checks that found the host up.
    pub up_count: u64,
    /// Failed checks in a row not yet counted as down (`retry N`).
    pub retry_count: u32,
    /// The last check's result code, relayd's `host->he`: why it failed
    /// (`TcpConnectTimeout`) or that it passed (`TcpConnectOk`); `None`
    /// before the first check.
    pub last_error: HostError,
    /// How long the last finished check took, in microseconds (`None`
    /// before the first).
    pub last_check_micros: Option<u64>,
}

impl HostStatus {
    /// Percentage of successful checks, `None` before the first check.
    pub fn availability(&self) -> Option<f64> {
        (self.check_count > 0).then(|| self.up_count as f64 / self.check_count as f64 * 100.0)
    }
}

/// Session counters of one redirect, or of one relay in one relay process,
/// as relayd's `ctl_stats`. Rates are per `interval_secs`, per hour, per day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Statistics {
    /// Redirect or relay id.
    pub id: ObjectId,
    /// Relay process instance (0 for redirects).
    pub process: u32,
    pub interval_secs: u64,
    /// Total sessions (redirects with sticky-address: sticky states).
    pub count: u64,
    pub last: u32,
    pub avg: u32,
    pub last_hour: u32,
    pub avg_hour: u32,
    pub last_day: u32,
    pub avg_day: u32,
    /// A dns relay's drops since its configuration started; `None` for
    /// other relays and redirects.
    pub dns: Option<DnsDrops>,
    /// An http relay's pooled backend connections (`http { reuse }`);
    /// `None` for other relays, redirects, and `http { no reuse }`.
    pub http: Option<HttpReuse>,
    /// An HTTP relay's answers since its configuration started; `None` for
    /// other relays, redirects, and HTTP relays that answered nothing yet.
    pub http_answers: Option<HttpAnswers>,
    /// Bytes a relay moved from clients to backends since its
    /// configuration started; for a redirect, the bytes of the IP packets
    /// its flows' clients sent (headers included), as nftables counts them.
    pub bytes_in: u64,
    /// Bytes a relay moved from backends to clients since its
    /// configuration started; for a redirect, those of the hosts' packets.
    pub bytes_out: u64,
}

/// What one HTTP relay in one relay process answered its clients, by
/// status code: the backends' answers it forwarded and its own (error
/// pages, 400 for a request it refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HttpAnswers {
    pub by_status: BTreeMap<u16, u64>,
}

/// One http relay's idle backend connections in one relay process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HttpReuse {
    /// Idle connections waiting for a request now.
    pub idle: u32,
    /// Requests sent over a connection taken from the pool, since the
    /// configuration started.
    pub reused: u64,
}

/// What one dns relay in one relay process dropped, by reason. Nothing
/// dropped reaches a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DnsDrops {
    /// Datagrams without a DNS header, answers sent to the listener,
    /// queries coming back on a query socket.
    pub malformed: u64,
    /// Answers with another ID than their query went out with.
    pub unknown_id: u64,
    /// Answers from another address or port than the backend asked.
    pub wrong_source: u64,
    /// Pending queries pushed out by new ones while the table was full.
    pub evicted: u64,
    /// Queries with no usable backend, or whose sending failed.
    pub no_backend: u64,
    /// `forward to destination` / `nat lookup` without tables: queries
    /// that were not redirected, or whose original destination conntrack
    /// could not give.
    pub no_destination: u64,
    /// Queries unanswered within the session timeout.
    pub timeouts: u64,
}

/// `show` row of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TableRow {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    /// Hosts currently up.
    pub up_hosts: u32,
}

/// `show` row of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostRow {
    /// The host as written in the configuration.
    pub name: String,
    /// `parent N`
    pub parent_id: Option<ObjectId>,
    pub disabled: bool,
    /// Ids, state and counters.
    pub status: HostStatus,
}

/// State of a redirect as pfe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RedirectState {
    #[default]
    Active,
    /// Main table empty, backup table in use.
    ActiveBackup,
    /// No host up in any of its tables.
    Down,
    Disabled,
}

impl RedirectState {
    /// The words relayctl prints.
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectState::Active => "active",
            RedirectState::ActiveBackup => "active (using backup table)",
            RedirectState::Down => "down",
            RedirectState::Disabled => "disabled",
        }
    }
}

/// `show` row of a redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RedirectRow {
    pub id: ObjectId,
    pub name: String,
    pub state: RedirectState,
    /// `None` while disabled.
    pub stats: Option<Statistics>,
}

/// `show` row of a relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RelayRow {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    /// One entry per relay process; relayctl prints their sum.
    pub stats: Vec<Statistics>,
}

/// `show` row of a router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RouterRow {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    pub rtable: Option<u32>,
    pub rtlabel: Option<String>,
    pub routes: Vec<Prefix>,
}

/// One running (or just finished) relay session, `show sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Relay process instance that owns the session.
    pub process: u32,
    /// Session id, unique within its process.
    pub id: u32,
    pub relay_id: ObjectId,
    pub client: SocketAddr,
    /// Not yet connected to a backend: `None`.
    pub backend: Option<SocketAddr>,
    pub done: bool,
    /// Time since the session started, seconds.
    pub age_secs: u64,
    /// Time since the last data, seconds.
    pub idle_secs: u64,
    /// Process id of the relay process.
    pub pid: u32,
    /// Tag set by a filter rule.
    pub tag: Option<String>,
}
