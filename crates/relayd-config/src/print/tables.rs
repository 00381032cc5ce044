//! Tables: the `table <name> { hosts }` definitions, and the options a
//! `forward to <name>` gives the (inherited) table it uses: port, mode,
//! health check and timings.
//!
//! The model holds tables as the engines see them (`web`, `web:8080`, ...),
//! each remembering the definition it was copied from (`template`). Printing
//! goes back from those copies to one definition per template, and to the
//! `forward to <template> port ... check ...` clauses that recreate them.

use super::quote::{hex, host_name, quoted, table_name};
use super::Out;
use crate::model::{
    Check, Config, ForwardTarget, Global, Host, HttpExpect, Mode, Table, TableForward,
    DEFAULT_INTERVAL_SECS, DEFAULT_TIMEOUT_MS,
};

/// One `table <name> [disable] { ... }` per template among the tables
/// `wanted` picks, in the order the templates first appear in
/// `config.tables`.
pub fn print_definitions(out: &mut Out, config: &Config, wanted: impl Fn(&Table) -> bool) {
    let mut printed: Vec<&str> = Vec::new();
    for table in &config.tables {
        if printed.contains(&table.template.as_str()) {
            continue;
        }
        printed.push(&table.template);
        if wanted(table) {
            print_definition(out, table);
        }
    }
    out.blank();
}

/// A table no block uses keeps the check timings that were global when it
/// was defined. When those are the built-in defaults but the file changes
/// them, its definition must come before the global options to read back
/// the same.
pub fn defined_before_globals(config: &Config, table: &Table) -> bool {
    let used = |name: &str| {
        config.relays.iter().any(|r| {
            r.forward
                .iter()
                .any(|f| matches!(&f.target, ForwardTarget::Table(t) if t.table == name))
        }) || config
            .redirects
            .iter()
            .any(|r| r.forward.iter().any(|f| f.table == name))
            || config.routers.iter().any(|r| r.forward.table == name)
    };
    let timings = (table.timeout_ms, table.interval_secs);
    timings == (DEFAULT_TIMEOUT_MS, DEFAULT_INTERVAL_SECS)
        && timings != (config.global.timeout_ms, config.global.interval_secs)
        && !config
            .tables
            .iter()
            .any(|t| t.template == table.template && used(&t.name))
}

fn print_definition(out: &mut Out, table: &Table) {
    let disable = if table.disabled { " disable" } else { "" };
    let hosts: Vec<String> = table.hosts.iter().map(host_entry).collect();
    if hosts.len() <= 1 {
        let only = hosts.first().map(String::as_str).unwrap_or_default();
        out.line(
            0,
            format!(
                "table {}{disable} {{ {only} }}",
                table_name(&table.template)
            ),
        );
        return;
    }
    out.line(
        0,
        format!("table {}{disable} {{", table_name(&table.template)),
    );
    for entry in &hosts {
        out.line(1, entry);
    }
    out.line(0, "}");
}

fn host_entry(host: &Host) -> String {
    let mut entry = host_name(&host.name);
    if host.retry > 0 {
        entry.push_str(&format!(" retry {}", host.retry));
    }
    if let Some(parent) = host.parent {
        entry.push_str(&format!(" parent {parent}"));
    }
    if let Some(priority) = host.priority {
        entry.push_str(&format!(" priority {priority}"));
    }
    if let Some(ttl) = host.ip_ttl {
        entry.push_str(&format!(" ip ttl {ttl}"));
    }
    entry
}

/// `<template>`, `port N`, `mode M`, `check ...`, `interval I`, `timeout T`,
/// `demote G`, `retry R`: the clauses after the `to` of a `forward to` /
/// `route to`, for the caller to join (and wrap) them.
pub fn forward_clauses(config: &Config, forward: &TableForward) -> Vec<String> {
    let Some(table) = config.table(&forward.table) else {
        // A dangling reference cannot come from the parser; print what we
        // know so the output still shows the mistake.
        let mut clauses = vec![table_name(&forward.table)];
        clauses.extend(mode_clause(forward));
        return clauses;
    };
    let mut clauses = vec![table_name(&table.template)];
    if let Some(port) = table.port {
        clauses.push(format!("port {port}"));
    }
    clauses.extend(mode_clause(forward));
    if table.check != Check::None {
        clauses.push(format!("check {}", check(&table.check)));
    }
    clauses.extend(timings(&config.global, table));
    if let Some(group) = &table.demote {
        clauses.push(format!("demote {}", quoted(group)));
    }
    if forward.retry > 0 {
        clauses.push(format!("retry {}", forward.retry));
    }
    clauses
}

fn mode_clause(forward: &TableForward) -> Option<String> {
    let name = match forward.mode {
        // The default: printing it would only add noise.
        Mode::RoundRobin if forward.key.is_none() => return None,
        Mode::RoundRobin => "roundrobin",
        Mode::LoadBalance => "loadbalance",
        Mode::Hash => "hash",
        Mode::SourceHash => "source-hash",
        Mode::Random => "random",
        Mode::LeastStates => "least-states",
    };
    Some(match &forward.key {
        Some(key) => format!("mode {name} {}", quoted(key)),
        None => format!("mode {name}"),
    })
}

/// Table interval and timeout, printed only where they differ from the
/// global values (which are printed first, so a reader gets them back).
fn timings(global: &Global, table: &Table) -> Vec<String> {
    let mut clauses = Vec::new();
    if table.interval_secs != global.interval_secs {
        clauses.push(format!("interval {}", table.interval_secs));
    }
    if table.timeout_ms != global.timeout_ms {
        clauses.push(format!("timeout {}", table.timeout_ms));
    }
    clauses
}

/// A health check, without the leading `check`.
pub fn check(check: &Check) -> String {
    match check {
        Check::None => String::new(),
        Check::Icmp => "icmp".into(),
        Check::Tcp => "tcp".into(),
        Check::Tls => "tls".into(),
        Check::Http {
            tls,
            path,
            host,
            expect,
        } => {
            let scheme = if *tls { "https" } else { "http" };
            let mut text = format!("{scheme} {}", quoted(path));
            if let Some(host) = host {
                text.push_str(&format!(" host {}", quoted(host)));
            }
            match expect {
                HttpExpect::Code(code) => text.push_str(&format!(" code {code}")),
                HttpExpect::Digest(digest) => text.push_str(&format!(" digest {}", quoted(digest))),
            }
            text
        }
        Check::Send { send, expect, tls } => {
            let send = if send.is_empty() {
                "nothing".to_string()
            } else {
                quoted(send)
            };
            let tls = if *tls { " tls" } else { "" };
            format!("send {send} expect {}{tls}", quoted(expect))
        }
        Check::Binary { send, expect, tls } => {
            let tls = if *tls { " tls" } else { "" };
            format!(
                "binary send {} expect {}{tls}",
                quoted(&hex(send)),
                quoted(&hex(expect))
            )
        }
        Check::Script { path } => format!("script {}", quoted(path)),
    }
}
