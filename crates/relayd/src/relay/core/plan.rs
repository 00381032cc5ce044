//! What a relay process needs to know about one relay, worked out once per
//! configuration: the common part every protocol uses (its forwarding
//! targets with their tables and the hash key of each table's mode, the
//! `tcp { ... }` socket options, the session timeout) and the protocol's
//! own part ([`ProtocolPlan`]: `tcp`, `http`, `dns`).

use super::schedule::hash_key;
use super::shared::Backend;
use super::tls::TlsPlan;
use crate::relay::dns::DnsPlan;
use crate::relay::http::HttpPlan;
use crate::relay::tcp::TcpPlan;
use relayd_config::{
    Config, ForwardTarget, ObjectId, Origin, ProtocolKind, Relay, RelayForward, Table,
    TableForward, TcpOptions,
};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where a relay sends its sessions.
#[derive(Debug, Clone)]
pub enum Target {
    /// `forward to ADDRESS port P`
    Address(SocketAddr),
    /// `forward to <table>` entries in order: the first with a usable host
    /// wins, the later ones are backups.
    Tables(Vec<TableTarget>),
    /// `forward to destination` / `forward to nat lookup`: the original
    /// destination of a redirected connection, with tables (if any) as the
    /// fallback when the connection was not redirected.
    OriginalDestination(Vec<TableTarget>),
}

#[derive(Debug, Clone)]
pub struct TableTarget {
    pub table: Table,
    pub forward: TableForward,
    pub key: u64,
}

/// One relay as its sessions see it: the common part, then the protocol's.
#[derive(Debug, Clone)]
pub struct RelayPlan {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    /// `tcp { ... }` of the relay's protocol: socket options for both
    /// sockets of a session, whatever the protocol.
    pub tcp: TcpOptions,
    pub target: Target,
    /// Connect retries on failure (`retry N` of the forward).
    pub retry: u32,
    /// `transparent forward`: connect from the client's address.
    pub transparent: bool,
    pub session_timeout: Duration,
    pub protocol: ProtocolPlan,
    /// TLS of its listeners (built by the relay process from the files the
    /// parent sent; empty until then).
    pub tls: TlsPlan,
}

/// What only one protocol's sessions use. Sessions take their part when
/// they start (`core/session.rs`), so no protocol asks for another's.
#[derive(Debug, Clone)]
pub enum ProtocolPlan {
    /// `tcp protocol`, or no protocol: a byte stream.
    Tcp(TcpPlan),
    /// `http protocol`: options, filter rules, error pages.
    Http(Arc<HttpPlan>),
    /// `dns protocol`: UDP queries, each from a socket of its own.
    Dns(DnsPlan),
}

/// Why a relay of a configuration has no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub relay: String,
    pub kind: PlanErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanErrorKind {
    /// `protocol NAME` names no protocol of the file.
    UndefinedProtocol(String),
    /// `forward to <NAME>` names no table of the file.
    UndefinedTable(String),
    NoForwardTarget,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let relay = &self.relay;
        match &self.kind {
            PlanErrorKind::UndefinedProtocol(name) => {
                write!(f, "relay {relay}: protocol {name} is not defined")
            }
            PlanErrorKind::UndefinedTable(name) => {
                write!(f, "relay {relay}: table <{name}> is not defined")
            }
            PlanErrorKind::NoForwardTarget => write!(f, "relay {relay} has no forward target"),
        }
    }
}

impl std::error::Error for PlanError {}

/// The relay process's message loop reports configuration errors as text.
impl From<PlanError> for String {
    fn from(error: PlanError) -> String {
        error.to_string()
    }
}

impl RelayPlan {
    pub fn new(config: &Config, relay: &Relay) -> Result<RelayPlan, PlanError> {
        let failed = |kind| PlanError {
            relay: relay.name.clone(),
            kind,
        };
        let protocol = match &relay.protocol {
            Some(name) => Some(
                config
                    .protocol(name)
                    .ok_or_else(|| failed(PlanErrorKind::UndefinedProtocol(name.clone())))?,
            ),
            None => None,
        };
        let tables = table_targets(config, relay)?;
        let first = relay.forward.first();
        let target = match first.map(|f| &f.target) {
            Some(ForwardTarget::Address { addr, port }) => {
                Target::Address(SocketAddr::new(*addr, *port))
            }
            Some(ForwardTarget::Destination | ForwardTarget::NatLookup) => {
                Target::OriginalDestination(tables)
            }
            Some(ForwardTarget::Table(_)) => Target::Tables(tables),
            None => return Err(failed(PlanErrorKind::NoForwardTarget)),
        };
        let tcp = protocol.map(|p| p.tcp.clone()).unwrap_or_default();
        let protocol_plan = match protocol {
            None => ProtocolPlan::Tcp(TcpPlan::new(&tcp)),
            Some(p) => match p.kind {
                ProtocolKind::Tcp => ProtocolPlan::Tcp(TcpPlan::new(&tcp)),
                ProtocolKind::Http => ProtocolPlan::Http(Arc::new(HttpPlan::new(p))),
                ProtocolKind::Dns => ProtocolPlan::Dns(DnsPlan::new()),
            },
        };
        Ok(RelayPlan {
            id: relay.id,
            name: relay.name.clone(),
            disabled: relay.disabled,
            tcp,
            target,
            retry: relay.forward.iter().map(forward_retry).max().unwrap_or(0),
            transparent: relay.forward.iter().any(|f| f.transparent),
            session_timeout: Duration::from_secs(u64::from(relay.session_timeout_secs.max(1))),
            protocol: protocol_plan,
            tls: TlsPlan::default(),
        })
    }

    /// Whether an idle backend connection that a session of `earlier` (a
    /// plan of the configuration before) left may serve this plan's
    /// sessions: the same relay, the same `tcp { }` socket options, and
    /// plain TCP to the backend in both (a pooled connection is one).
    pub fn connects_like(&self, earlier: &RelayPlan) -> bool {
        self.id == earlier.id
            && self.name == earlier.name
            && self.tcp == earlier.tcp
            && !self.transparent
            && self.tls.backend.is_none()
            && earlier.tls.backend.is_none()
    }

    /// Whether this plan's sessions may go to `backend`: its fixed
    /// address, or a host of its tables.
    pub fn reaches(&self, backend: Backend) -> bool {
        match (&self.target, backend.host) {
            (Target::Address(addr), None) => *addr == backend.addr,
            (Target::Tables(tables) | Target::OriginalDestination(tables), Some(host)) => tables
                .iter()
                .any(|t| t.table.hosts.iter().any(|h| h.id == host)),
            _ => false,
        }
    }
}

fn forward_retry(forward: &RelayForward) -> u32 {
    match &forward.target {
        ForwardTarget::Table(t) => forward.retry.max(t.retry),
        _ => forward.retry,
    }
}

fn table_targets(config: &Config, relay: &Relay) -> Result<Vec<TableTarget>, PlanError> {
    let mut targets = Vec::new();
    for forward in &relay.forward {
        if let ForwardTarget::Table(t) = &forward.target {
            let table = config.table(&t.table).ok_or_else(|| PlanError {
                relay: relay.name.clone(),
                kind: PlanErrorKind::UndefinedTable(t.table.clone()),
            })?;
            targets.push(TableTarget {
                table: table.clone(),
                forward: t.clone(),
                key: hash_key(t.key.as_deref(), &relay.name),
            });
        }
    }
    Ok(targets)
}

/// The plans of every relay of `config` (the relay process builds them
/// one by one, with their TLS).
#[cfg(test)]
pub fn plans(config: &Config) -> Result<Vec<Arc<RelayPlan>>, PlanError> {
    config
        .relays
        .iter()
        .map(|relay| RelayPlan::new(config, relay).map(Arc::new))
        .collect()
}

/// What a configuration asks for that this relay engine cannot do yet,
/// one refusal per relay and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub refusals: Vec<Refusal>,
}

/// One thing one relay asks for that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Where the relay is defined.
    pub origin: Origin,
    pub relay: String,
    pub kind: RefusalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// `forward to destination` or `nat lookup` on a dns relay listening
    /// on a wildcard address: its flows are looked up in conntrack by the
    /// address they reached, which a wildcard does not say.
    DnsDestinationWildcard,
    /// `transparent forward` on a dns relay.
    DnsTransparent,
    /// TLS on a dns relay, which is UDP (relayd refuses it too).
    DnsTls,
    /// A rule of `protocol` (at `rule`) sends requests to `table`, which
    /// the relay does not forward to.
    RuleTableNotForwarded {
        protocol: String,
        rule: Origin,
        table: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (origin, relay) = (&self.origin, &self.relay);
        write!(f, "{}:{}: relay {relay}: ", origin.file, origin.line)?;
        match &self.kind {
            RefusalKind::DnsDestinationWildcard => f.write_str(
                "forward to destination and nat lookup on a dns relay need a listen \
                 address that is not a wildcard: the original destination is looked up \
                 by the address the query reached",
            ),
            RefusalKind::DnsTransparent => f.write_str(
                "transparent forward is not supported by dns relays: queries leave \
                 from the relay's own address",
            ),
            RefusalKind::DnsTls => f.write_str("TLS over UDP is not supported (dns relays)"),
            RefusalKind::RuleTableNotForwarded {
                protocol,
                rule,
                table,
            } => write!(
                f,
                "protocol {protocol}: {}:{}: the relay must also forward to <{table}> \
                 for a rule to send requests there",
                rule.file, rule.line
            ),
        }
    }
}

/// One refusal per line, as the parent reports configuration errors.
impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, refusal) in self.refusals.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{refusal}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Unsupported {}

/// The parent and the relay's message loop report configuration errors
/// as text.
impl From<Unsupported> for String {
    fn from(unsupported: Unsupported) -> String {
        unsupported.to_string()
    }
}

/// What this relay engine cannot do yet, as a configuration error: relayd
/// refuses such a file at startup (and `relayd -n` reports it), because
/// relaying it as plain TCP would silently drop what the file asks for
/// (encryption, filtering). An `http protocol` without rules or error pages
/// is relayed as a TCP stream, which is what it would do to the bytes.
pub fn refuse_unsupported(config: &Config) -> Result<(), Unsupported> {
    let mut refusals = Vec::new();
    for relay in &config.relays {
        let mut refuse = |kind| {
            refusals.push(Refusal {
                origin: relay.origin.clone(),
                relay: relay.name.clone(),
                kind,
            })
        };
        let protocol = relay
            .protocol
            .as_deref()
            .and_then(|name| config.protocol(name));
        let dns = protocol.is_some_and(|p| p.kind == ProtocolKind::Dns);
        if dns {
            let destination = relay.forward.iter().any(|f| {
                matches!(
                    f.target,
                    ForwardTarget::Destination | ForwardTarget::NatLookup
                )
            });
            if destination && relay.listen.iter().any(|l| l.addr.is_unspecified()) {
                refuse(RefusalKind::DnsDestinationWildcard);
            }
            if relay.forward.iter().any(|f| f.transparent) {
                refuse(RefusalKind::DnsTransparent);
            }
            if relay.listen.iter().any(|listen| listen.tls) || relay.forward.iter().any(|f| f.tls) {
                refuse(RefusalKind::DnsTls);
            }
        }
        if let Some(protocol) = protocol {
            if protocol.kind == ProtocolKind::Http {
                for rule in &protocol.rules {
                    if let Some(table) = &rule.forward_to {
                        if !forwards_to_table(config, relay, table) {
                            refuse(RefusalKind::RuleTableNotForwarded {
                                protocol: protocol.name.clone(),
                                rule: rule.origin.clone(),
                                table: table.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(Unsupported { refusals })
    }
}

/// Whether `relay` has a `forward to <table>` line for the definition `table`.
fn forwards_to_table(config: &Config, relay: &Relay, table: &str) -> bool {
    relay.forward.iter().any(|forward| match &forward.target {
        ForwardTarget::Table(t) => config.table(&t.table).is_some_and(|t| t.template == table),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::{parse_str, LoadOptions};

    fn verdict(protocol: &str, listen_options: &str) -> Result<(), Unsupported> {
        let text = format!(
            "table <t> {{ 127.0.0.1 }}\n{protocol}\nrelay r {{\n \
             listen on 127.0.0.1 port 8443 {listen_options}\n protocol p\n \
             forward to <t> port 80 check tcp\n}}\n"
        );
        let config = parse_str(&text, "t.conf", &LoadOptions::default()).expect("valid");
        refuse_unsupported(&config)
    }

    fn kinds(refused: Unsupported) -> Vec<RefusalKind> {
        refused.refusals.into_iter().map(|r| r.kind).collect()
    }

    #[test]
    fn what_would_be_silently_lost_is_refused() {
        assert_eq!(verdict("tcp protocol p { }", "tls"), Ok(()));
        assert_eq!(
            verdict("tcp protocol p {\n tls ca cert \"/x\"\n}", "tls"),
            Ok(()),
            "inspection is built"
        );
        let elsewhere = verdict(
            "table <u> { 127.0.0.2 }\nhttp protocol p { match request path \"/x\" forward to <u> }",
            "",
        )
        .expect_err("forward to a table the relay does not use");
        assert!(
            elsewhere.to_string().contains("must also forward to <u>"),
            "{elsewhere}"
        );
        assert!(matches!(
            &kinds(elsewhere)[..],
            [RefusalKind::RuleTableNotForwarded { table, .. }] if table == "u"
        ));
        let dns_tls = verdict("dns protocol p { }", "tls").expect_err("dns and tls");
        assert!(dns_tls.to_string().contains("TLS over UDP"), "{dns_tls}");
        assert_eq!(kinds(dns_tls), [RefusalKind::DnsTls]);
    }

    #[test]
    fn dns_relays_run_except_what_udp_cannot_do_here() {
        assert_eq!(verdict("dns protocol p { }", ""), Ok(()));
        let relay = |forward: &str| {
            format!(
                "dns protocol p {{ }}\n\
                 relay r {{\n listen on 127.0.0.1 port 53\n protocol p\n{forward}\n}}\n"
            )
        };
        for forward in ["forward to nat lookup", "forward to destination"] {
            let config =
                parse_str(&relay(forward), "t.conf", &LoadOptions::default()).expect("valid");
            assert_eq!(refuse_unsupported(&config), Ok(()), "{forward}");
        }
        let text = relay("transparent forward to nat lookup");
        let config = parse_str(&text, "t.conf", &LoadOptions::default()).expect("valid");
        let refused = refuse_unsupported(&config).expect_err("transparent");
        let text = refused.to_string();
        assert!(
            text.starts_with("t.conf:2: relay r: transparent forward"),
            "{text}"
        );
        assert_eq!(kinds(refused), [RefusalKind::DnsTransparent]);
        let wildcard = relay("forward to nat lookup").replace("127.0.0.1", "0.0.0.0");
        let config = parse_str(&wildcard, "t.conf", &LoadOptions::default()).expect("valid");
        let refused = refuse_unsupported(&config).expect_err("wildcard");
        assert!(refused.to_string().contains("not a wildcard"), "{refused}");
        assert_eq!(kinds(refused), [RefusalKind::DnsDestinationWildcard]);
    }

    #[test]
    fn plain_tcp_and_empty_http_protocols_run() {
        assert_eq!(verdict("tcp protocol p { tcp nodelay }", ""), Ok(()));
        assert_eq!(verdict("http protocol p { http websockets }", ""), Ok(()));
        assert_eq!(
            verdict(
                "http protocol p { match request header hash \"Host\" forward to <t> }",
                ""
            ),
            Ok(())
        );
        assert_eq!(
            verdict(
                "http protocol p { return error\n block request path \"/x\" label \"no\" }",
                ""
            ),
            Ok(())
        );
        assert_eq!(
            verdict("http protocol p { match request path strip 1 }", ""),
            Ok(())
        );
        assert_eq!(
            verdict(
                "http protocol p { block request url digest \"0123456789abcdef0123456789abcdef01234567\" }",
                ""
            ),
            Ok(())
        );
    }

    #[test]
    fn each_protocol_gets_its_own_part() {
        let text = "table <t> { 127.0.0.1 }\n\
                    http protocol h { http websockets }\n\
                    tcp protocol c { tcp { no splice } }\n\
                    relay web { listen on 127.0.0.1 port 80\n protocol h\n forward to <t> port 8080 }\n\
                    relay raw { listen on 127.0.0.1 port 81\n protocol c\n forward to <t> port 8081 }\n\
                    relay bare { listen on 127.0.0.1 port 82\n forward to 127.0.0.1 port 8082 }\n";
        let config = parse_str(text, "t.conf", &LoadOptions::default()).expect("valid");
        let plans = plans(&config).expect("plans");
        assert!(matches!(&plans[0].protocol, ProtocolPlan::Http(h) if h.options.websockets));
        assert!(matches!(
            plans[1].protocol,
            ProtocolPlan::Tcp(TcpPlan { splice: false })
        ));
        assert!(matches!(
            plans[2].protocol,
            ProtocolPlan::Tcp(TcpPlan { splice: true })
        ));
        let mut missing = config.clone();
        missing.relays[0].protocol = Some("nope".into());
        let error = plans_error(&missing);
        assert_eq!(error.kind, PlanErrorKind::UndefinedProtocol("nope".into()));
        assert_eq!(error.to_string(), "relay web: protocol nope is not defined");
    }

    fn plans_error(config: &Config) -> PlanError {
        match plans(config) {
            Ok(_) => panic!("a plan for a broken relay"),
            Err(e) => e,
        }
    }
}
