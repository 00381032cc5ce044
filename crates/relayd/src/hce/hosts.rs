//! The hce's book of hosts: one [`HostTracker`] per host of every table,
//! who inherits from whom (`parent N`), and the [`HostStatus`] messages and
//! log lines built from them.

use crate::same_host::SameHost;
use relayd_check::{HostError, HostTracker, Outcome, ParentLinks, Target, Transition};
use relayd_config::{Check, Config, Host, LogOptions, ObjectId, Table};
use relayd_proto::status::HostStatus;
use std::collections::HashMap;
use std::time::Duration;

/// One host of one table, as the engine follows it.
struct Entry {
    host: Host,
    table_id: ObjectId,
    tracker: HostTracker,
    /// How long the last check result it took took (its parent's for a
    /// host that follows one).
    last_check: Option<Duration>,
}

/// A host whose state or counters a check result changed.
pub struct Recorded {
    pub status: HostStatus,
    pub transition: Transition,
}

/// What a new round of a table is made of.
pub struct RoundStart {
    pub check: Check,
    pub timeout: Duration,
    pub targets: Vec<(ObjectId, Target)>,
    /// Hosts whose previous check had not finished.
    pub timed_out: Vec<HostStatus>,
}

/// Every host of the running configuration.
#[derive(Default)]
pub struct HostBook {
    entries: HashMap<ObjectId, Entry>,
    /// Tables by id, for their check method and port.
    tables: HashMap<ObjectId, Table>,
    links: ParentLinks,
    log: LogOptions,
}

impl HostBook {
    /// All hosts unknown, none disabled (the parent re-sends its switches);
    /// a reload then carries the running states over (`carry_over`).
    pub fn new(config: &Config) -> HostBook {
        let mut entries = HashMap::new();
        let mut tables = HashMap::new();
        for table in &config.tables {
            for host in &table.hosts {
                let entry = Entry {
                    host: host.clone(),
                    table_id: table.id,
                    tracker: HostTracker::new(host.retry),
                    last_check: None,
                };
                entries.insert(host.id, entry);
            }
            tables.insert(table.id, table.clone());
        }
        let all_hosts = config.tables.iter().flat_map(|t| t.hosts.iter());
        let (links, invalid) = ParentLinks::new(all_hosts);
        for id in invalid {
            tracing::warn!("host id {id}: invalid parent, the host is checked itself");
        }
        HostBook {
            entries,
            tables,
            links,
            log: config.global.log.clone(),
        }
    }

    /// Hands every host that is the same host in `running` its tracker
    /// there (state, counters, last error), so a reload neither flaps it
    /// through unknown nor logs a state change for it; the number carried.
    pub fn carry_over(&mut self, running: &HostBook) -> usize {
        let same = SameHost::new(running.tables.values());
        let mut carried = 0;
        for table in self.tables.values() {
            for host in &table.hosts {
                let Some(old) = same
                    .running_id(table, host)
                    .and_then(|id| running.entries.get(&id))
                else {
                    continue;
                };
                if let Some(entry) = self.entries.get_mut(&host.id) {
                    entry.tracker = old.tracker.carried_over(host.retry);
                    carried += 1;
                }
            }
        }
        carried
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn contains(&self, id: ObjectId) -> bool {
        self.entries.contains_key(&id)
    }

    pub fn host_name(&self, id: ObjectId) -> Option<&str> {
        self.entries.get(&id).map(|e| e.host.name.as_str())
    }

    /// Starts a round of table `table_id`: the table's check and timeout,
    /// and the hosts checked themselves this round (not disabled, not
    /// following a parent). A host whose previous check never reported now
    /// shows `interval timeout`; their statuses are in `timed_out`.
    pub fn start_round(&mut self, table_id: ObjectId) -> Option<RoundStart> {
        let table = self.tables.get(&table_id)?;
        let port = table.port.unwrap_or(0);
        let mut start = RoundStart {
            check: table.check.clone(),
            timeout: Duration::from_millis(u64::from(table.timeout_ms)),
            targets: Vec::with_capacity(table.hosts.len()),
            timed_out: Vec::new(),
        };
        for host in &table.hosts {
            let Some(entry) = self.entries.get_mut(&host.id) else {
                continue;
            };
            if entry.tracker.is_disabled() || !ParentLinks::is_checked(&entry.host) {
                continue;
            }
            let before = entry.tracker.last_error();
            entry.tracker.start_check();
            if entry.tracker.last_error() == HostError::IntervalTimeout
                && before != HostError::IntervalTimeout
            {
                tracing::debug!("host {}, check interval timeout", entry.host.name);
                start.timed_out.push(status_of(entry));
            }
            let target = Target {
                addr: entry.host.addr,
                port,
                ip_ttl: entry.host.ip_ttl,
            };
            start.targets.push((host.id, target));
        }
        Some(start)
    }

    /// Applies one check result of `host_id` to it and to every host that
    /// follows it (`parent N`), logging as `log state changes|host checks`
    /// asks.
    pub fn record(&mut self, host_id: ObjectId, outcome: &Outcome) -> Vec<Recorded> {
        let mut recorded = Vec::new();
        let followers = self.links.children(host_id).to_vec();
        for id in std::iter::once(host_id).chain(followers) {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.tracker.is_disabled() {
                tracing::debug!("host {}, check ignored: host disabled", entry.host.name);
                continue;
            }
            let transition = entry.tracker.record(outcome);
            entry.last_check = Some(outcome.elapsed);
            if let Some(table) = self.tables.get(&entry.table_id) {
                log_check(&self.log, entry, table, outcome, transition);
            }
            recorded.push(Recorded {
                status: status_of(entry),
                transition,
            });
        }
        recorded
    }

    /// `host disable`: unknown, counters cleared, results ignored.
    pub fn disable(&mut self, id: ObjectId) -> Option<HostStatus> {
        let entry = self.entries.get_mut(&id)?;
        entry.tracker.disable();
        entry.last_check = None;
        Some(status_of(entry))
    }

    /// `host enable`: unknown until its next check.
    pub fn enable(&mut self, id: ObjectId) -> Option<HostStatus> {
        let entry = self.entries.get_mut(&id)?;
        entry.tracker.enable();
        Some(status_of(entry))
    }

    /// Sets the table's `disabled` switch and makes its hosts unknown.
    pub fn switch_table(&mut self, table_id: ObjectId, enabled: bool) -> Vec<HostStatus> {
        let Some(table) = self.tables.get_mut(&table_id) else {
            return Vec::new();
        };
        table.disabled = !enabled;
        let ids: Vec<ObjectId> = table.hosts.iter().map(|h| h.id).collect();
        let mut statuses = Vec::new();
        for id in ids {
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.tracker.set_unknown();
                statuses.push(status_of(entry));
            }
        }
        statuses
    }

    pub fn table(&self, id: ObjectId) -> Option<&Table> {
        self.tables.get(&id)
    }

    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values()
    }

    pub fn statuses(&self) -> Vec<HostStatus> {
        let mut all: Vec<HostStatus> = self.entries.values().map(status_of).collect();
        all.sort_by_key(|s| s.host_id);
        all
    }
}

fn status_of(entry: &Entry) -> HostStatus {
    let tracker = &entry.tracker;
    HostStatus {
        host_id: entry.host.id,
        table_id: entry.table_id,
        state: tracker.state(),
        check_count: tracker.check_count(),
        up_count: tracker.up_count(),
        retry_count: tracker.retries_left(),
        last_error: tracker.last_error(),
        last_check_micros: entry
            .last_check
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
    }
}

/// relayd's name of a check method in its log lines (`table_check()`).
pub fn check_name(check: &Check) -> String {
    let (name, tls) = match check {
        Check::None => ("none", false),
        Check::Icmp => ("icmp", false),
        Check::Tcp => ("tcp", false),
        Check::Tls => ("tcp", true),
        Check::Http {
            tls,
            expect: relayd_config::HttpExpect::Code(_),
            ..
        } => ("http code", *tls),
        Check::Http { tls, .. } => ("http digest", *tls),
        Check::Send { tls, .. } => ("send expect", *tls),
        Check::Binary { tls, .. } => ("binary send expect", *tls),
        Check::Script { .. } => ("script", false),
    };
    if tls {
        format!("{name} use tls")
    } else {
        name.to_string()
    }
}

/// `host NAME, check tcp (3ms,tcp connect ok), state unknown -> up,
/// availability 100.00%`, at info level when the configuration logs this
/// kind of event, at trace level (`-vv`) otherwise.
fn log_check(
    log: &LogOptions,
    entry: &Entry,
    table: &Table,
    outcome: &Outcome,
    transition: Transition,
) {
    let wanted = if transition.changed() {
        log.state_changes || log.host_checks
    } else {
        log.host_checks
    };
    // Thousands of checks a second: build the line only when it is logged,
    // and keep routine results for `-vv` so `-v` stays readable.
    if !wanted && crate::log::verbosity() < 2 {
        return;
    }
    let code = outcome
        .http_code
        .map(|code| format!(",{code}"))
        .unwrap_or_default();
    let line = format!(
        "host {}, check {} ({}ms,{}{code}), state {} -> {}, availability {}",
        entry.host.name,
        check_name(&table.check),
        outcome.elapsed.as_millis(),
        outcome.error,
        transition.from,
        transition.to,
        entry.tracker.availability_text(),
    );
    if wanted {
        tracing::info!("{line}");
    } else {
        tracing::trace!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::Table;
    use relayd_proto::status::HostState;
    use std::net::IpAddr;

    fn host(id: ObjectId, parent: Option<ObjectId>, retry: u32) -> Host {
        Host {
            id,
            name: format!("127.0.0.{id}"),
            addr: IpAddr::from([127, 0, 0, id as u8]),
            retry,
            parent,
            priority: None,
            ip_ttl: None,
        }
    }

    fn book(hosts: Vec<Host>) -> HostBook {
        let table = Table {
            id: 7,
            name: "web:80".into(),
            template: "web".into(),
            port: Some(80),
            disabled: false,
            check: Check::Tcp,
            interval_secs: 10,
            timeout_ms: 200,
            demote: None,
            hosts,
        };
        let config = Config {
            tables: vec![table],
            ..Config::default()
        };
        HostBook::new(&config)
    }

    fn up() -> Outcome {
        Outcome::up(HostError::TcpConnectOk, Duration::from_millis(1))
    }

    fn down() -> Outcome {
        Outcome::down(HostError::TcpConnectFail, Duration::from_millis(1))
    }

    #[test]
    fn rounds_check_neither_followers_nor_disabled_hosts() {
        let mut book = book(vec![
            host(1, None, 0),
            host(2, Some(1), 0),
            host(3, None, 0),
        ]);
        book.disable(3);
        let start = book.start_round(7).expect("table 7");
        let checked: Vec<ObjectId> = start.targets.iter().map(|(id, _)| *id).collect();
        assert_eq!(checked, vec![1]);
        assert_eq!(start.targets[0].1.port, 80);
        assert_eq!(start.check, Check::Tcp);
        assert_eq!(start.timeout, Duration::from_millis(200));
        assert!(book.start_round(99).is_none());
    }

    #[test]
    fn a_result_applies_to_the_host_and_its_followers() {
        let mut book = book(vec![host(1, None, 0), host(2, Some(1), 0)]);
        let recorded = book.record(1, &up());
        let states: Vec<(ObjectId, HostState, bool)> = recorded
            .iter()
            .map(|r| (r.status.host_id, r.status.state, r.transition.changed()))
            .collect();
        assert_eq!(
            states,
            vec![(1, HostState::Up, true), (2, HostState::Up, true)]
        );
        let recorded = book.record(1, &down());
        assert!(recorded.iter().all(|r| r.status.state == HostState::Down));
        assert_eq!(recorded[1].status.last_error, HostError::TcpConnectFail);
        assert_eq!(
            (recorded[1].status.check_count, recorded[1].status.up_count),
            (2, 1)
        );
    }

    #[test]
    fn a_check_unfinished_at_the_next_round_is_an_interval_timeout() {
        let mut book = book(vec![host(1, None, 0)]);
        assert!(book.start_round(7).expect("round").timed_out.is_empty());
        let late = book.start_round(7).expect("round");
        assert_eq!(late.timed_out.len(), 1);
        assert_eq!(late.timed_out[0].last_error, HostError::IntervalTimeout);
        // Reported once, not at every round that follows.
        assert!(book.start_round(7).expect("round").timed_out.is_empty());
    }

    #[test]
    fn disabled_hosts_and_tables_are_unknown() {
        let mut book = book(vec![host(1, None, 0), host(2, None, 0)]);
        book.record(1, &up());
        book.record(2, &up());
        let status = book.disable(1).expect("host 1");
        assert_eq!((status.state, status.check_count), (HostState::Unknown, 0));
        assert!(
            book.record(1, &up()).is_empty(),
            "results of disabled hosts are ignored"
        );
        let statuses = book.switch_table(7, false);
        assert!(statuses.iter().all(|s| s.state == HostState::Unknown));
        assert!(book.table(7).expect("table").disabled);
        book.switch_table(7, true);
        assert!(!book.table(7).expect("table").disabled);
        assert!(book.enable(1).is_some());
        assert!(book.disable(42).is_none());
    }

    #[test]
    fn a_reload_carries_states_over_to_the_same_hosts() {
        let mut running = book(vec![host(1, None, 0), host(2, None, 0)]);
        running.record(1, &up());
        running.record(2, &down());
        // The new file puts a host first: ids move, hosts stay.
        let renumbered = |id, addr_of| Host {
            id,
            ..host(addr_of, None, 0)
        };
        let mut next = book(vec![host(3, None, 0), renumbered(4, 1), renumbered(5, 2)]);
        assert_eq!(next.carry_over(&running), 2);
        let states: Vec<(ObjectId, HostState)> = next
            .statuses()
            .iter()
            .map(|s| (s.host_id, s.state))
            .collect();
        assert_eq!(
            states,
            [
                (3, HostState::Unknown),
                (4, HostState::Up),
                (5, HostState::Down)
            ]
        );
        let recorded = next.record(4, &up());
        assert!(!recorded[0].transition.changed(), "no state change logged");
    }

    #[test]
    fn log_names_follow_relayd() {
        assert_eq!(check_name(&Check::Tls), "tcp use tls");
        assert_eq!(
            check_name(&Check::Http {
                tls: true,
                path: "/".into(),
                host: None,
                expect: relayd_config::HttpExpect::Code(200),
            }),
            "http code use tls"
        );
    }
}
