//! The blocks that use tables: `relay`, `redirect` and `router`.
//!
//! Using a table with a new port or check creates a table copy, and copies
//! get their ids (and names) in the order the blocks appear. So the blocks
//! are not simply printed kind after kind: they keep the order they were
//! written in, or, when that is unknown, are merged in the order of the
//! tables they create, which gives the same tables back on re-reading.

use super::quote::{address, port_range, prefix, quoted};
use super::tables::forward_clauses;
use super::Out;
use crate::model::{
    Config, ForwardTarget, IpProto, Origin, Redirect, Relay, RelayForward, Router,
    DEFAULT_SESSION_TIMEOUT_SECS,
};
use std::collections::VecDeque;

/// One top-level block that forwards to tables.
enum Block<'a> {
    Relay(&'a Relay),
    Redirect(&'a Redirect),
    Router(&'a Router),
}

impl<'a> Block<'a> {
    fn table_names(&self) -> Vec<&'a str> {
        match self {
            Block::Relay(relay) => relay
                .forward
                .iter()
                .filter_map(|f| match &f.target {
                    ForwardTarget::Table(t) => Some(t.table.as_str()),
                    _ => None,
                })
                .collect(),
            Block::Redirect(redirect) => {
                redirect.forward.iter().map(|f| f.table.as_str()).collect()
            }
            Block::Router(router) => vec![router.forward.table.as_str()],
        }
    }

    fn origin(&self) -> &'a Origin {
        match self {
            Block::Relay(relay) => &relay.origin,
            Block::Redirect(redirect) => &redirect.origin,
            Block::Router(router) => &router.origin,
        }
    }
}

/// Relays, redirects and routers in the order they were written when that
/// is known (all from one file), else merged by the tables they create.
pub fn print_blocks(out: &mut Out, config: &Config) {
    let blocks = in_file_order(config).unwrap_or_else(|| in_table_order(config));
    for block in blocks {
        match block {
            Block::Relay(relay) => print_relay(out, config, relay),
            Block::Redirect(redirect) => print_redirect(out, config, redirect),
            Block::Router(router) => print_router(out, config, router),
        }
        out.blank();
    }
}

/// The blocks sorted by line, when every block has a line in the same file.
/// Table copies were then created in this order too.
fn in_file_order(config: &Config) -> Option<Vec<Block<'_>>> {
    let mut blocks: Vec<Block> = config
        .relays
        .iter()
        .map(Block::Relay)
        .chain(config.redirects.iter().map(Block::Redirect))
        .chain(config.routers.iter().map(Block::Router))
        .collect();
    let file = &blocks.first()?.origin().file;
    let known = blocks
        .iter()
        .all(|b| b.origin().line > 0 && &b.origin().file == file);
    if !known {
        return None;
    }
    blocks.sort_by_key(|b| b.origin().line);
    Some(blocks)
}

/// Each kind in its own (id) order, merged so that table copies are created
/// in the order `config.tables` lists them.
fn in_table_order(config: &Config) -> Vec<Block<'_>> {
    let mut queues: [VecDeque<Block>; 3] = [
        config.relays.iter().map(Block::Relay).collect(),
        config.redirects.iter().map(Block::Redirect).collect(),
        config.routers.iter().map(Block::Router).collect(),
    ];
    let table_index = |name: &str| config.tables.iter().position(|t| t.name == name);
    let mut used: Vec<&str> = Vec::new();
    let mut ordered = Vec::new();
    loop {
        // The first table each queue head would create; blocks that create
        // none can go at once.
        let next = queues
            .iter()
            .enumerate()
            .filter_map(|(queue, blocks)| {
                let head = blocks.front()?;
                let first_new = head
                    .table_names()
                    .into_iter()
                    .filter(|name| !used.contains(name))
                    .filter_map(table_index)
                    .min()
                    .unwrap_or(0);
                Some((first_new, queue))
            })
            .min();
        let Some((_, queue)) = next else { break };
        let Some(block) = queues[queue].pop_front() else {
            break;
        };
        used.extend(block.table_names());
        ordered.push(block);
    }
    ordered
}

fn print_relay(out: &mut Out, config: &Config, relay: &Relay) {
    out.line(0, format!("relay {} {{", quoted(&relay.name)));
    if relay.disabled {
        out.line(1, "disable");
    }
    for listen in &relay.listen {
        let tls = if listen.tls { " tls" } else { "" };
        out.line(
            1,
            format!(
                "listen on {} port {}{tls}",
                address(&listen.addr),
                listen.port
            ),
        );
    }
    if let Some(protocol) = &relay.protocol {
        out.line(1, format!("protocol {}", quoted(protocol)));
    }
    for forward in &relay.forward {
        out.clauses(1, &relay_forward(config, forward));
    }
    if relay.session_timeout_secs != DEFAULT_SESSION_TIMEOUT_SECS {
        out.line(1, format!("session timeout {}", relay.session_timeout_secs));
    }
    out.line(0, "}");
}

/// The clauses of one relay `forward` line.
fn relay_forward(config: &Config, forward: &RelayForward) -> Vec<String> {
    let mut verb = String::new();
    if forward.transparent {
        verb.push_str("transparent ");
    }
    verb.push_str("forward ");
    if forward.tls {
        verb.push_str("with tls ");
    }
    verb.push_str("to");
    let mut clauses = match &forward.target {
        ForwardTarget::Address { addr, port } => {
            vec![format!("{verb} {}", address(addr)), format!("port {port}")]
        }
        ForwardTarget::Table(table) => with_verb(&verb, forward_clauses(config, table)),
        ForwardTarget::Destination => vec![format!("{verb} destination")],
        ForwardTarget::NatLookup => vec![format!("{verb} nat lookup")],
    };
    // A table forward prints its own retry (TableForward::retry); print the
    // relay-level one only when it adds something.
    let table_retry = match &forward.target {
        ForwardTarget::Table(table) => table.retry,
        _ => 0,
    };
    if forward.retry > 0 && forward.retry != table_retry {
        clauses.push(format!("retry {}", forward.retry));
    }
    if forward.inet {
        clauses.push("inet".into());
    }
    if let Some(prefix) = &forward.inet6_prefix {
        clauses.push(format!("inet6 {}", address(prefix)));
    }
    clauses
}

/// `verb` joined to the first clause, so a wrapped line never starts with
/// a bare table name.
fn with_verb(verb: &str, mut clauses: Vec<String>) -> Vec<String> {
    match clauses.first_mut() {
        Some(first) => *first = format!("{verb} {first}"),
        None => clauses.push(verb.to_string()),
    }
    clauses
}

fn print_redirect(out: &mut Out, config: &Config, redirect: &Redirect) {
    out.line(0, format!("redirect {} {{", quoted(&redirect.name)));
    if redirect.disabled {
        out.line(1, "disable");
    }
    for listen in &redirect.listen {
        let proto = match listen.proto {
            IpProto::Tcp => "",
            IpProto::Udp => " udp",
        };
        let mut line = format!(
            "listen on {}{proto} port {}",
            address(&listen.addr),
            port_range(&listen.port)
        );
        if let Some(interface) = &listen.interface {
            line.push_str(&format!(" interface {}", quoted(interface)));
        }
        out.line(1, line);
    }
    if let Some(tag) = &redirect.pftag {
        let keyword = if redirect.pftag_match {
            "match pftag"
        } else {
            "pftag"
        };
        out.line(1, format!("{keyword} {}", quoted(tag)));
    }
    let verb = if redirect.route_to {
        "route"
    } else {
        "forward"
    };
    for forward in &redirect.forward {
        let mut clauses = with_verb(&format!("{verb} to"), forward_clauses(config, forward));
        if let Some(interface) = &forward.interface {
            clauses.push(format!("interface {}", quoted(interface)));
        }
        out.clauses(1, &clauses);
    }
    if redirect.session_timeout_secs != DEFAULT_SESSION_TIMEOUT_SECS {
        out.line(
            1,
            format!("session timeout {}", redirect.session_timeout_secs),
        );
    }
    if redirect.sticky_address {
        out.line(1, "sticky-address");
    }
    out.line(0, "}");
}

fn print_router(out: &mut Out, config: &Config, router: &Router) {
    out.line(0, format!("router {} {{", quoted(&router.name)));
    if router.disabled {
        out.line(1, "disable");
    }
    for route in &router.routes {
        out.line(1, format!("route {}", prefix(route)));
    }
    out.clauses(
        1,
        &with_verb("forward to", forward_clauses(config, &router.forward)),
    );
    if let Some(rtable) = router.rtable {
        out.line(1, format!("rtable {rtable}"));
    }
    if let Some(label) = &router.rtlabel {
        out.line(1, format!("rtlabel {}", quoted(label)));
    }
    out.line(0, "}");
}
