//! Prints a [`Config`] back in relayd.conf(5) syntax, in the order of a tidy
//! hand-written file: global options, table definitions, protocols, then
//! the relays, redirections and routers that use them. (Unused tables that
//! kept the default check timings come before the global options that
//! change them.)
//!
//! The output is what `relayd -nv` shows, and reading it again gives the
//! same `Config` (apart from `origin` line numbers): every field of the
//! model is printed, defaults are left out.

mod protocols;
mod quote;
mod services;
mod tables;

use crate::model::{
    Config, ConnectionLog, Global, DEFAULT_INTERVAL_SECS, DEFAULT_PREFORK, DEFAULT_SOCKET,
    DEFAULT_TIMEOUT_MS,
};
use quote::quoted;

/// Prints `config` in relayd.conf(5) syntax; parsing the output gives the
/// same [`Config`].
pub fn print_config(config: &Config) -> String {
    let mut out = Out::default();
    let early = |table: &_| tables::defined_before_globals(config, table);
    tables::print_definitions(&mut out, config, early);
    print_global(&mut out, &config.global);
    tables::print_definitions(&mut out, config, |table| !early(table));
    for protocol in &config.protocols {
        protocols::print_protocol(&mut out, protocol);
        out.blank();
    }
    services::print_blocks(&mut out, config);
    out.finish()
}

/// The text being built, one line at a time, indented with tabs.
#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn line(&mut self, indent: usize, line: impl AsRef<str>) {
        for _ in 0..indent {
            self.text.push('\t');
        }
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// Clauses joined by blanks; a line that would grow past `WIDTH`
    /// columns continues on the next with `\\`, indented once more, as
    /// in relayd.conf(5)'s examples. Lines only break between clauses, so
    /// never inside a quoted string.
    fn clauses(&mut self, indent: usize, clauses: &[String]) {
        const WIDTH: usize = 80;
        const TAB: usize = 8;
        let mut line = String::new();
        let mut width = indent * TAB;
        let mut continued = false;
        for clause in clauses {
            // Room for " clause" and a possible " \\" after it.
            if !line.is_empty() && width + 1 + clause.len() + 2 > WIDTH {
                line.push_str(" \\");
                self.line(if continued { indent + 1 } else { indent }, &line);
                line.clear();
                continued = true;
                width = (indent + 1) * TAB;
            }
            if !line.is_empty() {
                line.push(' ');
                width += 1;
            }
            line.push_str(clause);
            width += clause.len();
        }
        self.line(if continued { indent + 1 } else { indent }, &line);
    }

    /// A blank line between sections; never two in a row.
    fn blank(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }

    fn finish(mut self) -> String {
        while self.text.ends_with("\n\n") {
            self.text.pop();
        }
        self.text
    }
}

fn print_global(out: &mut Out, global: &Global) {
    let start = out.text.len();
    if global.interval_secs != DEFAULT_INTERVAL_SECS {
        out.line(0, format!("interval {}", global.interval_secs));
    }
    if global.timeout_ms != DEFAULT_TIMEOUT_MS {
        out.line(0, format!("timeout {}", global.timeout_ms));
    }
    if global.prefork != DEFAULT_PREFORK {
        out.line(0, format!("prefork {}", global.prefork));
    }
    if global.log.state_changes {
        out.line(0, "log state changes");
    }
    if global.log.host_checks {
        out.line(0, "log host checks");
    }
    match global.log.connection {
        Some(ConnectionLog::All) => out.line(0, "log connection"),
        Some(ConnectionLog::ErrorsOnly) => out.line(0, "log connection errors"),
        None => {}
    }
    if let Some(snmp) = &global.snmp {
        let mut line = String::from("snmp");
        if snmp.trap {
            line.push_str(" trap");
        }
        if let Some(path) = &snmp.path {
            line.push_str(&format!(" {}", quoted(path)));
        }
        out.line(0, line);
    }
    if let Some(agentx) = &global.agentx {
        let mut line = String::from("agentx");
        if let Some(context) = &agentx.context {
            line.push_str(&format!(" context {}", quoted(context)));
        }
        if let Some(path) = &agentx.path {
            line.push_str(&format!(" path {}", quoted(path)));
        }
        out.line(0, line);
    }
    if global.socket != DEFAULT_SOCKET {
        out.line(0, format!("socket {}", quoted(&global.socket)));
    }
    if let Some(group) = &global.demote {
        out.line(0, format!("demote {}", quoted(group)));
    }
    if let Some(metrics) = &global.metrics {
        let addr = quoted(&metrics.addr.to_string());
        out.line(0, format!("metrics listen on {addr} port {}", metrics.port));
    }
    if out.text.len() > start {
        out.blank();
    }
}

#[cfg(test)]
mod tests;
