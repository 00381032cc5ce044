//! The typed model of a relayd.conf(5) file, after macro expansion, include
//! resolution, name resolution and validation.
//!
//! Every engine receives (a part of) this model from the parent over imsg, so
//! all types are plain data: `Serialize + Deserialize + Clone + PartialEq`, no
//! file handles, no sockets. Ids are assigned in file order starting at 1, as
//! relayd does, and are what `relayctl show summary` prints.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Object ids as relayctl prints them (`Id` column). Unique per kind.
pub type ObjectId = u32;

/// Defaults from relayd.conf(5).
pub const DEFAULT_INTERVAL_SECS: u32 = 10;
pub const DEFAULT_TIMEOUT_MS: u32 = 200;
pub const DEFAULT_PREFORK: u32 = 3;
pub const DEFAULT_SESSION_TIMEOUT_SECS: u32 = 600;
pub const DEFAULT_HEADERLEN: u32 = 8192;
pub const MAX_HEADERLEN: u32 = 131_072;
/// OpenBSD relayd listens with a queue of 10. A full Linux accept queue
/// drops the last packet of the handshake, and the client, which believes
/// it is connected, waits for a retransmission (200 ms and more): 50
/// clients reconnecting at once already hit that. Without `tcp backlog`,
/// the queue is relayd's largest allowed value instead.
pub const DEFAULT_BACKLOG: u32 = MAX_BACKLOG;
pub const MAX_BACKLOG: u32 = 512;
pub const DEFAULT_SOCKET: &str = "/var/run/relayd.sock";
pub const DEFAULT_AGENTX_PATH: &str = "/var/agentx/master";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Config {
    pub global: Global,
    /// Tables as the engines see them: one per (table, port) use in a
    /// `forward to`/`route to`, named `name:port` as relayd's table
    /// inheritance does (uses of the same table and port must agree on the
    /// check options). Unused table definitions are kept, after the used
    /// ones, named `name`, with `port: None` and `Check::None`, so
    /// `show summary` can list them.
    pub tables: Vec<Table>,
    pub redirects: Vec<Redirect>,
    pub relays: Vec<Relay>,
    pub protocols: Vec<Protocol>,
    pub routers: Vec<Router>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Global {
    pub interval_secs: u32,
    pub timeout_ms: u32,
    pub prefork: u32,
    pub log: LogOptions,
    pub snmp: Option<Snmp>,
    pub agentx: Option<AgentX>,
    /// Control socket path (`socket "path"`).
    pub socket: String,
    /// Global carp demotion group (`demote group`).
    pub demote: Option<String>,
    /// `metrics listen on ADDR port P` (an extension): where the metrics
    /// process serves the Prometheus text format.
    pub metrics: Option<MetricsListen>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            interval_secs: DEFAULT_INTERVAL_SECS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            prefork: DEFAULT_PREFORK,
            log: LogOptions::default(),
            snmp: None,
            agentx: None,
            socket: DEFAULT_SOCKET.to_string(),
            demote: None,
            metrics: None,
        }
    }
}

/// The address of the Prometheus endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsListen {
    pub addr: IpAddr,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LogOptions {
    /// `log state changes`
    pub state_changes: bool,
    /// `log host checks`
    pub host_checks: bool,
    /// `log connection` / `log connection errors`
    pub connection: Option<ConnectionLog>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionLog {
    All,
    ErrorsOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Snmp {
    pub trap: bool,
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AgentX {
    pub context: Option<String>,
    pub path: Option<String>,
}

/// Where in the configuration something was written, for runtime messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    pub file: String,
    pub line: u32,
}

// ---------------------------------------------------------------------------
// Tables and health checks
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub id: ObjectId,
    /// Name as relayctl shows it: `web:8080` for a table used on port 8080
    /// (relayd names every inherited copy so, whether the port is written
    /// in the `forward to` or taken from `listen on`), `web` when unused.
    /// Router tables without a port get relayd's port 65535.
    pub name: String,
    /// The `table <name>` definition this table comes from.
    pub template: String,
    /// Port the hosts are checked and forwarded on; `None` when unused.
    pub port: Option<u16>,
    pub disabled: bool,
    pub check: Check,
    pub interval_secs: u32,
    pub timeout_ms: u32,
    /// Per-table carp demotion group (`demote group` in a forward).
    pub demote: Option<String>,
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub id: ObjectId,
    /// The host as written (address or name), for display.
    pub name: String,
    pub addr: IpAddr,
    pub retry: u32,
    /// `parent N`: inherit the state of host id N instead of checking.
    pub parent: Option<ObjectId>,
    /// Route priority (`priority N`), routers only.
    pub priority: Option<u8>,
    /// `ip ttl N` for host checks.
    pub ip_ttl: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Check {
    /// Table not used by anything that checks it.
    #[default]
    None,
    Icmp,
    Tcp,
    Tls,
    Http {
        tls: bool,
        path: String,
        host: Option<String>,
        expect: HttpExpect,
    },
    /// `check send DATA expect PATTERN [tls]`; an empty `send` reads a banner.
    /// Both as written: relayd turns `\n` and `\r` in the pattern into
    /// LF and CR (and `\x` into `x`) before matching; the daemon does that.
    Send {
        send: String,
        expect: String,
        tls: bool,
    },
    /// `check binary send HEX expect HEX [tls]`, decoded.
    Binary {
        send: Vec<u8>,
        expect: Vec<u8>,
        tls: bool,
    },
    Script {
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpExpect {
    Code(u16),
    /// Lower-case hex; SHA-1 when 40 digits, MD5 when 32.
    Digest(String),
}

/// Scheduling algorithm of a `forward to <table> mode ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    #[default]
    RoundRobin,
    LoadBalance,
    Hash,
    SourceHash,
    Random,
    LeastStates,
}

/// A use of a table by a redirect, relay or router: `forward to <t> ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableForward {
    /// Name of the (inherited) entry in `Config::tables`.
    pub table: String,
    pub mode: Mode,
    /// Hash key of `mode hash|loadbalance|source-hash KEY`: the `0x..` value
    /// or the string as written; `None` lets the daemon pick a random key.
    pub key: Option<String>,
    /// Connect retries (relays).
    pub retry: u32,
    /// `route to <t> ... interface IF` (redirects): where to route to.
    #[serde(default)]
    pub interface: Option<String>,
}

// ---------------------------------------------------------------------------
// Redirections (layer 3, nftables on Linux)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    pub listen: Vec<RedirectListen>,
    /// Main table, then the optional backup table.
    pub forward: Vec<TableForward>,
    /// `route to <t>` (direct server return) instead of `forward to`.
    pub route_to: bool,
    pub pftag: Option<String>,
    /// `match pftag`: tag without the implied `pass quick`.
    pub pftag_match: bool,
    pub sticky_address: bool,
    pub session_timeout_secs: u32,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectListen {
    pub addr: IpAddr,
    pub proto: IpProto,
    pub port: PortRange,
    pub interface: Option<String>,
    /// The `listen on` line, for the warnings about one listen address.
    #[serde(default)]
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum IpProto {
    #[default]
    Tcp,
    Udp,
}

/// A single port (`lo == hi`) or `lo:hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

// ---------------------------------------------------------------------------
// Relays (layer 7)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    pub listen: Vec<RelayListen>,
    /// Name of the protocol; `None` uses the default tcp protocol.
    pub protocol: Option<String>,
    /// In order; later table entries are backups of earlier ones.
    pub forward: Vec<RelayForward>,
    pub session_timeout_secs: u32,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayListen {
    pub addr: IpAddr,
    pub port: u16,
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayForward {
    pub target: ForwardTarget,
    /// `forward with tls to ...`
    pub tls: bool,
    /// `transparent forward ...`
    pub transparent: bool,
    pub retry: u32,
    /// `inet`: map an IPv6 destination to IPv4 from its last 4 octets.
    pub inet: bool,
    /// `inet6 PREFIX`: map an IPv4 destination into this IPv6 prefix.
    pub inet6_prefix: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardTarget {
    Address {
        addr: IpAddr,
        port: u16,
    },
    Table(TableForward),
    /// `forward to destination` (original destination, SO_ORIGINAL_DST).
    Destination,
    /// `forward to nat lookup` (same lookup; the older spelling).
    NatLookup,
}

// ---------------------------------------------------------------------------
// Protocols and filter rules
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    pub id: ObjectId,
    pub name: String,
    pub kind: ProtocolKind,
    pub tcp: TcpOptions,
    pub tls: TlsOptions,
    pub http: HttpOptions,
    /// `return error [style "css"]`
    pub return_error: Option<ReturnError>,
    pub rules: Vec<FilterRule>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ProtocolKind {
    #[default]
    Tcp,
    Http,
    Dns,
}

/// `tcp { ... }`. `None` leaves the kernel default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpOptions {
    pub nodelay: Option<bool>,
    pub sack: Option<bool>,
    /// `no splice` turns this off.
    pub splice: bool,
    pub socket_buffer: Option<u32>,
    pub backlog: Option<u32>,
    pub ip_ttl: Option<u8>,
    pub ip_minttl: Option<u8>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            nodelay: None,
            sack: None,
            splice: true,
            socket_buffer: None,
            backlog: None,
            ip_ttl: None,
            ip_minttl: None,
        }
    }
}

/// `tls { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TlsOptions {
    /// `keypair NAME`, in order (SNI).
    pub keypairs: Vec<String>,
    pub ca_file: Option<String>,
    pub ca_cert: Option<String>,
    pub ca_key: Option<String>,
    pub ca_key_password: Option<String>,
    pub ciphers: Option<String>,
    pub ecdhe: Option<String>,
    /// `edh [params none|auto|legacy]`; `None` is `no edh`.
    pub edh: Option<EdhParams>,
    pub session_tickets: Option<bool>,
    pub client_renegotiation: Option<bool>,
    pub cipher_server_preference: Option<bool>,
    /// Protocol switches as written (`no tlsv1.3`, `tlsv1.2`, `sslv3`, ...);
    /// `None` keeps the default.
    pub sslv3: Option<bool>,
    pub tlsv1_0: Option<bool>,
    pub tlsv1_1: Option<bool>,
    pub tlsv1_2: Option<bool>,
    pub tlsv1_3: Option<bool>,
    /// `client ca PATH` (newer relayd): require client certificates that
    /// chain to the CAs in PATH.
    #[serde(default)]
    pub client_ca: Option<String>,
    /// `verify name NAME` (an extension of relayd.conf): send NAME as SNI to
    /// the backend and check that its certificate is valid for NAME; needs
    /// `ca file`.
    #[serde(default)]
    pub verify_name: Option<String>,
    /// Where each option was written, for warnings and errors at load
    /// (boxed: most protocols have no TLS, and every config part carrying
    /// a protocol would otherwise grow by the size of all the lines).
    #[serde(default)]
    pub origins: Box<TlsOrigins>,
}

/// The line of each `tls` option of a protocol (the last one written when
/// an option is repeated); `None` when the option was not written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TlsOrigins {
    /// One per `keypair` line, in the order of `TlsOptions::keypairs`.
    pub keypairs: Vec<Origin>,
    pub ca_file: Option<Origin>,
    pub ca_cert: Option<Origin>,
    pub ca_key: Option<Origin>,
    pub ciphers: Option<Origin>,
    pub ecdhe: Option<Origin>,
    /// `edh` or `no edh`.
    pub edh: Option<Origin>,
    pub session_tickets: Option<Origin>,
    pub client_renegotiation: Option<Origin>,
    pub cipher_server_preference: Option<Origin>,
    pub sslv3: Option<Origin>,
    pub tlsv1_0: Option<Origin>,
    pub tlsv1_1: Option<Origin>,
    pub tlsv1_2: Option<Origin>,
    pub tlsv1_3: Option<Origin>,
    pub client_ca: Option<Origin>,
    pub verify_name: Option<Origin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EdhParams {
    None,
    Auto,
    Legacy,
}

/// `http { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpOptions {
    pub headerlen: u32,
    pub websockets: bool,
    /// `[no] reuse` (an extension): idle backend connections are shared
    /// between the relay's client sessions. On unless switched off.
    pub reuse: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            headerlen: DEFAULT_HEADERLEN,
            websockets: false,
            reuse: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReturnError {
    pub style: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRule {
    pub action: RuleAction,
    pub quick: bool,
    pub direction: Direction,
    pub family: Option<AddressFamily>,
    pub from: Option<Prefix>,
    pub to: Option<Prefix>,
    /// `forward to <table>` (name of a table definition).
    pub forward_to: Option<String>,
    pub tag: Option<String>,
    pub tagged: Option<String>,
    pub label: Option<String>,
    /// `no tag`
    pub untag: bool,
    /// `no label`
    pub unlabel: bool,
    /// HTTP method, upper case.
    pub method: Option<String>,
    pub entities: Vec<EntityMatch>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleAction {
    Block,
    Pass,
    Match,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Direction {
    #[default]
    Request,
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressFamily {
    Inet,
    Inet6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

/// One `TYPE [OPTION] [[digest] KEY | file PATH] [value VALUE]` clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityMatch {
    pub kind: EntityKind,
    pub option: Option<EntityOption>,
    pub digest: bool,
    pub key: Option<EntityKey>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityKind {
    Cookie,
    Header,
    Path,
    Query,
    Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityOption {
    Append,
    Set,
    Remove,
    Hash,
    Log,
    /// `path strip N`
    Strip(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityKey {
    Value(String),
    /// `file PATH`: the keys read from PATH at load time.
    File {
        path: String,
        keys: Vec<String>,
    },
}

// ---------------------------------------------------------------------------
// Routers
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    pub routes: Vec<Prefix>,
    pub forward: TableForward,
    pub rtable: Option<u32>,
    pub rtlabel: Option<String>,
    pub origin: Origin,
}

impl Config {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn protocol(&self, name: &str) -> Option<&Protocol> {
        self.protocols.iter().find(|p| p.name == name)
    }
}
