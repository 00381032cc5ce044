//! Host states as `relayctl show hosts` prints them, and waiting for one.

use std::time::Duration;

use crate::daemon::Daemon;
use crate::process::wait_until;
use crate::relayctl::{stdout_text, summary_rows, SummaryRow};

/// Two check intervals of 1 s, plus slack for a loaded machine.
pub const TWO_INTERVALS: Duration = Duration::from_millis(2500);

/// The full `show hosts` text, for failure messages and detail lines.
pub fn show_hosts(daemon: &Daemon) -> String {
    stdout_text(&daemon.relayctl(&["show", "hosts"]))
}

/// The host rows of `show hosts`.
pub fn host_rows(daemon: &Daemon) -> Vec<SummaryRow> {
    summary_rows(&show_hosts(daemon))
        .into_iter()
        .filter(|r| r.kind == "host")
        .collect()
}

/// The status of the host named `name` (the first one if it is in
/// several tables).
pub fn host_state(daemon: &Daemon, name: &str) -> Option<String> {
    host_rows(daemon)
        .into_iter()
        .find(|r| host_name_is(&r.name, name))
        .map(|r| r.status)
}

/// relayctl shows a host with a parent as `127.0.0.2 parent 1`.
pub fn host_name_is(shown: &str, name: &str) -> bool {
    shown.split_whitespace().next() == Some(name)
}

/// The name of the first table in `show hosts` (`web:8080`).
pub fn first_table(daemon: &Daemon) -> String {
    summary_rows(&show_hosts(daemon))
        .into_iter()
        .find(|r| r.kind == "table")
        .map(|r| r.name)
        .unwrap_or_default()
}

/// Waits until host `name` shows `state`; panics with `show hosts` and the
/// daemon's log otherwise.
pub fn expect_state(daemon: &Daemon, name: &str, state: &str, within: Duration) {
    let reached = wait_until(within, || {
        host_state(daemon, name).as_deref() == Some(state)
    });
    assert!(
        reached,
        "host {name} did not become {state} within {within:?}\nshow hosts:\n{}\nrelayd log:\n{}",
        show_hosts(daemon),
        daemon.log_text()
    );
}

/// Waits up to 20 s until at least `count` hosts of the daemon are `up`;
/// panics with `show hosts` and the log otherwise.
pub fn wait_hosts_up(daemon: &Daemon, count: usize) {
    let up = wait_until(Duration::from_secs(20), || {
        host_rows(daemon)
            .iter()
            .filter(|r| r.status == "up")
            .count()
            >= count
    });
    assert!(
        up,
        "hosts not up: {}\nlog:\n{}",
        show_hosts(daemon),
        daemon.log_text()
    );
}

/// The detail line under host `name` in `show hosts` (`total: ...`).
pub fn host_detail(daemon: &Daemon, name: &str) -> String {
    let text = show_hosts(daemon);
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if fields.len() >= 3 && fields[1] == "host" && host_name_is(fields[2], name) {
            return lines.next().unwrap_or_default().trim().to_string();
        }
    }
    String::new()
}
