//! What a relay process needs to know about one relay, worked out once per
//! configuration: its protocol's TCP options, its forwarding targets with
//! their tables, and the hash key of each table's mode.

use super::schedule::hash_key;
use relayd_config::{
    Config, FilterRule, ForwardTarget, HttpOptions, ObjectId, ProtocolKind, Relay, RelayForward,
    ReturnError, Table, TableForward, TcpOptions,
};
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

#[derive(Debug, Clone)]
pub struct RelayPlan {
    pub id: ObjectId,
    pub name: String,
    pub disabled: bool,
    pub kind: ProtocolKind,
    pub tcp: TcpOptions,
    pub target: Target,
    /// Connect retries on failure (`retry N` of the forward).
    pub retry: u32,
    /// `transparent forward`: connect from the client's address.
    pub transparent: bool,
    pub session_timeout: Duration,
    /// `http { ... }` of an `http protocol`.
    pub http: HttpOptions,
    /// Filter rules of an `http protocol`, in file order.
    pub rules: Vec<FilterRule>,
    /// `return error [style ...]`: blocked requests get an error page.
    pub return_error: Option<ReturnError>,
}

impl RelayPlan {
    pub fn new(config: &Config, relay: &Relay) -> Result<RelayPlan, String> {
        let protocol =
            match &relay.protocol {
                Some(name) => Some(config.protocol(name).ok_or_else(|| {
                    format!("relay {}: protocol {name} is not defined", relay.name)
                })?),
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
            None => return Err(format!("relay {} has no forward target", relay.name)),
        };
        Ok(RelayPlan {
            id: relay.id,
            name: relay.name.clone(),
            disabled: relay.disabled,
            kind: protocol.map_or(ProtocolKind::Tcp, |p| p.kind),
            tcp: protocol.map(|p| p.tcp.clone()).unwrap_or_default(),
            target,
            retry: relay.forward.iter().map(forward_retry).max().unwrap_or(0),
            transparent: relay.forward.iter().any(|f| f.transparent),
            session_timeout: Duration::from_secs(u64::from(relay.session_timeout_secs.max(1))),
            http: protocol.map(|p| p.http.clone()).unwrap_or_default(),
            rules: protocol.map(|p| p.rules.clone()).unwrap_or_default(),
            return_error: protocol.and_then(|p| p.return_error.clone()),
        })
    }
}

fn forward_retry(forward: &RelayForward) -> u32 {
    match &forward.target {
        ForwardTarget::Table(t) => forward.retry.max(t.retry),
        _ => forward.retry,
    }
}

fn table_targets(config: &Config, relay: &Relay) -> Result<Vec<TableTarget>, String> {
    let mut targets = Vec::new();
    for forward in &relay.forward {
        if let ForwardTarget::Table(t) = &forward.target {
            let table = config.table(&t.table).ok_or_else(|| {
                format!("relay {}: table <{}> is not defined", relay.name, t.table)
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

/// The plans of every relay of `config`.
pub fn plans(config: &Config) -> Result<Vec<Arc<RelayPlan>>, String> {
    config
        .relays
        .iter()
        .map(|relay| RelayPlan::new(config, relay).map(Arc::new))
        .collect()
}

/// What this relay engine cannot do yet, as a configuration error: relayd
/// refuses such a file at startup (and `relayd -n` reports it), because
/// relaying it as plain TCP would silently drop what the file asks for
/// (encryption, filtering). An `http protocol` without rules or error pages
/// is relayed as a TCP stream, which is what it would do to the bytes.
pub fn refuse_unsupported(config: &Config) -> Result<(), String> {
    let mut errors = Vec::new();
    for relay in &config.relays {
        let place = format!(
            "{}:{}: relay {}",
            relay.origin.file, relay.origin.line, relay.name
        );
        let protocol = relay
            .protocol
            .as_deref()
            .and_then(|name| config.protocol(name));
        if let Some(protocol) = protocol {
            if protocol.kind == ProtocolKind::Dns {
                errors.push(format!(
                    "{place}: dns protocol (UDP) relays are not implemented yet"
                ));
            }
            if protocol.kind == ProtocolKind::Http {
                for rule in &protocol.rules {
                    if let Some(table) = &rule.forward_to {
                        if !forwards_to_table(config, relay, table) {
                            errors.push(format!(
                                "{place}: protocol {}: {}:{}: the relay must also forward \
                                 to <{table}> for a rule to send requests there",
                                protocol.name, rule.origin.file, rule.origin.line
                            ));
                        }
                    }
                }
            }
        }
        if relay.listen.iter().any(|listen| listen.tls) || relay.forward.iter().any(|f| f.tls) {
            errors.push(format!("{place}: TLS relays are not implemented yet"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
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
    use super::refuse_unsupported;
    use relayd_config::{parse_str, LoadOptions};

    fn verdict(protocol: &str, listen_options: &str) -> Result<(), String> {
        let text = format!(
            "table <t> {{ 127.0.0.1 }}\n{protocol}\nrelay r {{\n \
             listen on 127.0.0.1 port 8443 {listen_options}\n protocol p\n \
             forward to <t> port 80 check tcp\n}}\n"
        );
        let config = parse_str(&text, "t.conf", &LoadOptions::default()).expect("valid");
        refuse_unsupported(&config)
    }

    #[test]
    fn what_would_be_silently_lost_is_refused() {
        let tls = verdict("tcp protocol p { }", "tls").expect_err("tls");
        assert!(tls.contains("t.conf:3: relay r: TLS relays"), "{tls}");
        let elsewhere = verdict(
            "table <u> { 127.0.0.2 }\nhttp protocol p { match request path \"/x\" forward to <u> }",
            "",
        )
        .expect_err("forward to a table the relay does not use");
        assert!(
            elsewhere.contains("must also forward to <u>"),
            "{elsewhere}"
        );
        let dns = verdict("dns protocol p { }", "").expect_err("dns");
        assert!(dns.contains("dns protocol"), "{dns}");
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
}
