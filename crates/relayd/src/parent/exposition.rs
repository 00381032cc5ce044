//! The Prometheus text exposition format (version 0.0.4) of the parent's
//! status mirror, for `relayctl show metrics` and the metrics process's
//! endpoint. It is built from the rows `show summary` sends, so both say
//! the same: redirects, relays, tables and hosts, each object once (a table
//! that several relays forward to is listed once).
//!
//! Names follow Prometheus' conventions: the `relayd_` prefix, `_total`
//! for counters, base units (seconds, ratios from 0 to 1), one sample per
//! state of an enumeration (`relayd_host_state{state="up"} 1`).

use relayd_config::ObjectId;
use relayd_proto::control::ControlReply;
use relayd_proto::status::{HostRow, HostState, RedirectRow, RedirectState, RelayRow, TableRow};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Renders the summary rows of the mirror (`Mirror::summary`).
pub fn render(rows: &[ControlReply]) -> String {
    let mut families = Families::default();
    let mut tables_seen = BTreeSet::new();
    // Host rows follow their table's row; `None` while that table was
    // already listed.
    let mut current_table: Option<String> = None;
    for row in rows {
        match row {
            ControlReply::Redirect(redirect) => families.redirect(redirect),
            ControlReply::Relay(relay) => families.relay(relay),
            ControlReply::Table(table) => {
                current_table = tables_seen
                    .insert(table.id)
                    .then(|| families.table(table, rows));
            }
            ControlReply::Host(host) => {
                if let Some(table) = &current_table {
                    families.host(table, host);
                }
            }
            _ => {}
        }
    }
    families.text()
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family: its samples, each its labels and value.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<(Vec<(&'static str, String)>, String)>,
}

/// Every family, in the order of [`FAMILIES`].
struct Families {
    families: Vec<Family>,
}

const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "relayd_redirect_state",
        Kind::Gauge,
        "State of a redirection: 1 for the state it is in, 0 for the others.",
    ),
    (
        "relayd_redirect_sessions_total",
        Kind::Counter,
        "Connections a redirection forwarded (states for sticky-address).",
    ),
    (
        "relayd_redirect_bytes_total",
        Kind::Counter,
        "Bytes of the IP packets of a redirection's connections, headers included: direction=\"in\" from clients, direction=\"out\" from hosts.",
    ),
    (
        "relayd_relay_enabled",
        Kind::Gauge,
        "Whether a relay is enabled (1) or disabled (0).",
    ),
    (
        "relayd_relay_sessions_total",
        Kind::Counter,
        "Sessions a relay accepted, over all relay processes.",
    ),
    (
        "relayd_relay_bytes_total",
        Kind::Counter,
        "Bytes a relay moved, over all relay processes: direction=\"in\" from clients to backends, direction=\"out\" from backends to clients.",
    ),
    (
        "relayd_relay_http_responses_total",
        Kind::Counter,
        "Answers an HTTP relay sent its clients (the backends' and its own), by status code.",
    ),
    (
        "relayd_relay_backend_connections_idle",
        Kind::Gauge,
        "Idle backend connections an HTTP relay keeps for reuse, over all relay processes.",
    ),
    (
        "relayd_relay_backend_connections_reused_total",
        Kind::Counter,
        "Requests an HTTP relay sent over a backend connection taken from its pool.",
    ),
    (
        "relayd_relay_dns_dropped_total",
        Kind::Counter,
        "Datagrams a dns relay dropped, by reason.",
    ),
    (
        "relayd_table_enabled",
        Kind::Gauge,
        "Whether a table is enabled (1) or disabled (0).",
    ),
    (
        "relayd_table_hosts",
        Kind::Gauge,
        "Hosts of a table (none while it is disabled).",
    ),
    (
        "relayd_table_hosts_up",
        Kind::Gauge,
        "Hosts of a table that are enabled and up.",
    ),
    (
        "relayd_host_up",
        Kind::Gauge,
        "Whether a host is enabled and its checks found it up (1) or not (0).",
    ),
    (
        "relayd_host_state",
        Kind::Gauge,
        "State of a host: 1 for the state it is in, 0 for the others.",
    ),
    (
        "relayd_host_enabled",
        Kind::Gauge,
        "Whether a host is enabled (1) or disabled (0).",
    ),
    (
        "relayd_host_checks_total",
        Kind::Counter,
        "Health checks of a host since its table's configuration started.",
    ),
    (
        "relayd_host_checks_up_total",
        Kind::Counter,
        "Health checks that found the host up.",
    ),
    (
        "relayd_host_availability_ratio",
        Kind::Gauge,
        "Share of a host's checks that found it up, from 0 to 1.",
    ),
    (
        "relayd_host_check_duration_seconds",
        Kind::Gauge,
        "How long the last finished health check of a host took.",
    ),
];

impl Default for Families {
    fn default() -> Self {
        let families = FAMILIES
            .iter()
            .map(|&(name, kind, help)| Family {
                name,
                help,
                kind,
                samples: Vec::new(),
            })
            .collect();
        Families { families }
    }
}

impl Families {
    fn add(&mut self, name: &str, labels: Vec<(&'static str, String)>, value: impl ToString) {
        if let Some(family) = self.families.iter_mut().find(|f| f.name == name) {
            family.samples.push((labels, value.to_string()));
        }
    }

    fn redirect(&mut self, row: &RedirectRow) {
        let label = || vec![("redirect", row.name.clone())];
        for state in [
            RedirectState::Active,
            RedirectState::ActiveBackup,
            RedirectState::Down,
            RedirectState::Disabled,
        ] {
            let mut labels = label();
            labels.push(("state", redirect_state_word(state).to_string()));
            self.add("relayd_redirect_state", labels, flag(row.state == state));
        }
        if let Some(stats) = &row.stats {
            self.add("relayd_redirect_sessions_total", label(), stats.count);
            for (direction, bytes) in [("in", stats.bytes_in), ("out", stats.bytes_out)] {
                let mut labels = label();
                labels.push(("direction", direction.to_string()));
                self.add("relayd_redirect_bytes_total", labels, bytes);
            }
        }
    }

    fn relay(&mut self, row: &RelayRow) {
        let label = || vec![("relay", row.name.clone())];
        self.add("relayd_relay_enabled", label(), flag(!row.disabled));
        let sessions: u64 = row.stats.iter().map(|s| s.count).sum();
        self.add("relayd_relay_sessions_total", label(), sessions);
        for (direction, bytes) in [
            ("in", row.stats.iter().map(|s| s.bytes_in).sum::<u64>()),
            ("out", row.stats.iter().map(|s| s.bytes_out).sum::<u64>()),
        ] {
            let mut labels = label();
            labels.push(("direction", direction.to_string()));
            self.add("relayd_relay_bytes_total", labels, bytes);
        }
        let mut answers: BTreeMap<u16, u64> = BTreeMap::new();
        for http in row.stats.iter().filter_map(|s| s.http_answers.as_ref()) {
            for (status, count) in &http.by_status {
                *answers.entry(*status).or_default() += count;
            }
        }
        for (status, count) in answers {
            let mut labels = label();
            labels.push(("code", status.to_string()));
            self.add("relayd_relay_http_responses_total", labels, count);
        }
        // As `show relays`: only relays with a pool (`http { reuse }`).
        let pools: Vec<_> = row.stats.iter().filter_map(|s| s.http).collect();
        if !pools.is_empty() {
            let idle: u64 = pools.iter().map(|p| u64::from(p.idle)).sum();
            let reused: u64 = pools.iter().map(|p| p.reused).sum();
            self.add("relayd_relay_backend_connections_idle", label(), idle);
            self.add(
                "relayd_relay_backend_connections_reused_total",
                label(),
                reused,
            );
        }
        let drops: Vec<_> = row.stats.iter().filter_map(|s| s.dns).collect();
        if drops.is_empty() {
            return;
        }
        let sum = |pick: fn(&relayd_proto::status::DnsDrops) -> u64| -> u64 {
            drops.iter().map(pick).sum()
        };
        let reasons: [(&str, u64); 7] = [
            ("malformed", sum(|d| d.malformed)),
            ("unknown_id", sum(|d| d.unknown_id)),
            ("wrong_source", sum(|d| d.wrong_source)),
            ("evicted", sum(|d| d.evicted)),
            ("no_backend", sum(|d| d.no_backend)),
            ("no_destination", sum(|d| d.no_destination)),
            ("timeout", sum(|d| d.timeouts)),
        ];
        for (reason, count) in reasons {
            let mut labels = label();
            labels.push(("reason", reason.to_string()));
            self.add("relayd_relay_dns_dropped_total", labels, count);
        }
    }

    /// A table's own samples; its name, for the host rows that follow.
    fn table(&mut self, row: &TableRow, rows: &[ControlReply]) -> String {
        let label = || vec![("table", row.name.clone())];
        self.add("relayd_table_enabled", label(), flag(!row.disabled));
        self.add("relayd_table_hosts", label(), hosts_of(row.id, rows));
        self.add("relayd_table_hosts_up", label(), row.up_hosts);
        row.name.clone()
    }

    fn host(&mut self, table: &str, row: &HostRow) {
        let label = || vec![("table", table.to_string()), ("host", row.name.clone())];
        let status = &row.status;
        let up = !row.disabled && status.state == HostState::Up;
        self.add("relayd_host_up", label(), flag(up));
        for state in [HostState::Up, HostState::Down, HostState::Unknown] {
            let mut labels = label();
            labels.push(("state", state.as_str().to_string()));
            self.add("relayd_host_state", labels, flag(status.state == state));
        }
        self.add("relayd_host_enabled", label(), flag(!row.disabled));
        self.add("relayd_host_checks_total", label(), status.check_count);
        self.add("relayd_host_checks_up_total", label(), status.up_count);
        if let Some(percent) = status.availability() {
            self.add("relayd_host_availability_ratio", label(), percent / 100.0);
        }
        if let Some(micros) = status.last_check_micros {
            let seconds = micros as f64 / 1e6;
            self.add("relayd_host_check_duration_seconds", label(), seconds);
        }
    }

    /// The text: each family with samples, `# HELP`, `# TYPE`, samples.
    fn text(&self) -> String {
        let mut out = String::new();
        for family in self.families.iter().filter(|f| !f.samples.is_empty()) {
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.word());
            for (labels, value) in &family.samples {
                out.push_str(family.name);
                if !labels.is_empty() {
                    out.push('{');
                    for (n, (name, value)) in labels.iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{name}=\"{}\"", escape_label(value));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
        }
        out
    }
}

/// The hosts of table `id`: the host rows after its first table row.
fn hosts_of(id: ObjectId, rows: &[ControlReply]) -> usize {
    let start = rows
        .iter()
        .position(|r| matches!(r, ControlReply::Table(t) if t.id == id));
    start.map_or(0, |start| {
        rows[start + 1..]
            .iter()
            .take_while(|r| matches!(r, ControlReply::Host(_)))
            .count()
    })
}

fn flag(on: bool) -> u8 {
    u8::from(on)
}

/// A redirect state as a label value (one word).
fn redirect_state_word(state: RedirectState) -> &'static str {
    match state {
        RedirectState::Active => "active",
        RedirectState::ActiveBackup => "active_backup",
        RedirectState::Down => "down",
        RedirectState::Disabled => "disabled",
    }
}

/// A label value as the text format writes it: `\`, `"` and newlines
/// escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_proto::status::{HostStatus, Statistics};

    fn rows() -> Vec<ControlReply> {
        let host = |id, name: &str, state, checks, up| {
            ControlReply::Host(HostRow {
                name: name.into(),
                parent_id: None,
                disabled: false,
                status: HostStatus {
                    host_id: id,
                    table_id: 1,
                    state,
                    check_count: checks,
                    up_count: up,
                    last_check_micros: Some(1500),
                    ..HostStatus::default()
                },
            })
        };
        let table = ControlReply::Table(TableRow {
            id: 1,
            name: "web".into(),
            disabled: false,
            up_hosts: 1,
        });
        let relay = |name: &str| {
            ControlReply::Relay(RelayRow {
                id: 1,
                name: name.into(),
                disabled: false,
                stats: vec![
                    Statistics {
                        count: 3,
                        ..Statistics::default()
                    },
                    Statistics {
                        process: 1,
                        count: 4,
                        bytes_in: 100,
                        bytes_out: 1000,
                        http: Some(relayd_proto::status::HttpReuse { idle: 2, reused: 9 }),
                        http_answers: Some(relayd_proto::status::HttpAnswers {
                            by_status: [(200, 5), (502, 1)].into_iter().collect(),
                        }),
                        ..Statistics::default()
                    },
                    Statistics {
                        process: 2,
                        bytes_in: 20,
                        http: Some(relayd_proto::status::HttpReuse { idle: 1, reused: 3 }),
                        http_answers: Some(relayd_proto::status::HttpAnswers {
                            by_status: [(200, 2)].into_iter().collect(),
                        }),
                        ..Statistics::default()
                    },
                ],
            })
        };
        vec![
            relay("www"),
            table.clone(),
            host(1, "127.0.0.1", HostState::Up, 4, 4),
            host(2, "127.0.0.2", HostState::Down, 4, 1),
            relay("w\"2"),
            table,
            host(1, "127.0.0.1", HostState::Up, 4, 4),
            host(2, "127.0.0.2", HostState::Down, 4, 1),
            ControlReply::End,
        ]
    }

    #[test]
    fn hosts_tables_and_relays_have_their_samples_once() {
        let text = render(&rows());
        let lines: Vec<&str> = text.lines().collect();
        let has = |line: &str| lines.iter().filter(|l| **l == line).count();
        assert_eq!(has(r#"relayd_host_up{table="web",host="127.0.0.1"} 1"#), 1);
        assert_eq!(has(r#"relayd_host_up{table="web",host="127.0.0.2"} 0"#), 1);
        assert_eq!(
            has(r#"relayd_host_state{table="web",host="127.0.0.2",state="down"} 1"#),
            1
        );
        assert_eq!(
            has(r#"relayd_host_availability_ratio{table="web",host="127.0.0.2"} 0.25"#),
            1
        );
        assert_eq!(
            has(r#"relayd_host_check_duration_seconds{table="web",host="127.0.0.1"} 0.0015"#),
            1
        );
        assert_eq!(has(r#"relayd_table_hosts{table="web"} 2"#), 1);
        assert_eq!(has(r#"relayd_table_hosts_up{table="web"} 1"#), 1);
        assert_eq!(has(r#"relayd_relay_sessions_total{relay="www"} 7"#), 1);
        assert_eq!(has(r#"relayd_relay_sessions_total{relay="w\"2"} 7"#), 1);
        assert_eq!(
            has(r#"relayd_relay_bytes_total{relay="www",direction="in"} 120"#),
            1
        );
        assert_eq!(
            has(r#"relayd_relay_bytes_total{relay="www",direction="out"} 1000"#),
            1
        );
        assert_eq!(
            has(r#"relayd_relay_http_responses_total{relay="www",code="200"} 7"#),
            1
        );
        assert_eq!(
            has(r#"relayd_relay_http_responses_total{relay="www",code="502"} 1"#),
            1
        );
        assert_eq!(
            has(r#"relayd_relay_backend_connections_idle{relay="www"} 3"#),
            1
        );
        assert_eq!(
            has(r#"relayd_relay_backend_connections_reused_total{relay="www"} 12"#),
            1
        );
    }

    #[test]
    fn every_family_is_typed_once_before_its_samples() {
        let text = render(&rows());
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or_default();
                assert!(!typed.contains(&name.to_string()), "{name} twice");
                typed.push(name.to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert_eq!(typed.last().map(String::as_str), Some(name), "{line}");
            }
        }
        for name in &typed {
            let counter = text.contains(&format!("# TYPE {name} counter"));
            assert_eq!(counter, name.ends_with("_total"), "{name}");
        }
    }

    #[test]
    fn a_redirect_has_its_sessions_and_bytes_by_direction() {
        let redirect = ControlReply::Redirect(RedirectRow {
            id: 1,
            name: "www".into(),
            state: RedirectState::Active,
            stats: Some(Statistics {
                count: 3,
                bytes_in: 1200,
                bytes_out: 56_000,
                ..Statistics::default()
            }),
        });
        let text = render(&[redirect]);
        for line in [
            r#"relayd_redirect_sessions_total{redirect="www"} 3"#,
            r#"relayd_redirect_bytes_total{redirect="www",direction="in"} 1200"#,
            r#"relayd_redirect_bytes_total{redirect="www",direction="out"} 56000"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
