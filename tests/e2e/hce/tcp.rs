//! End-to-end: the host check engine with `check tcp` against real
//! backends on 127.0.0.x: up and down hosts, a backend stopped and
//! restarted, `retry` and `parent`, `host disable|enable`, `poll` and
//! `monitor`. Needs root; skips otherwise.

use e2e::{
    daemon_can_run, expect_state, first_table, free_port, host_detail, host_rows, host_state,
    relay_using, show_hosts, wait_until, Daemon, Monitor, TcpBackend, TcpBehaviour, TWO_INTERVALS,
};
use std::net::Ipv4Addr;
use std::time::Duration;

const LOCAL_1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LOCAL_2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn daemon(label: &str, body: &str) -> Daemon {
    Daemon::start(
        label,
        &format!("prefork 1\ninterval 1\nlog state changes\n{body}"),
    )
}

#[test]
fn listening_hosts_are_up_and_closed_ports_down() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start((LOCAL_1, 0), TcpBehaviour::AcceptAndClose);
    let port = backend.addr.port();
    let daemon = daemon(
        "tcp-updown",
        &format!(
            "table <web> {{ 127.0.0.1 127.0.0.2 }}\n{}",
            relay_using("www", "web", port, "check tcp")
        ),
    );
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);
    expect_state(&daemon, "127.0.0.2", "down", TWO_INTERVALS);

    let up = host_rows(&daemon)
        .into_iter()
        .find(|r| r.name == "127.0.0.1")
        .expect("row of 127.0.0.1");
    assert_eq!(up.availability, "100.00%", "{}", show_hosts(&daemon));
    let detail = host_detail(&daemon, "127.0.0.2");
    assert!(
        detail.contains("error: tcp connect failed"),
        "detail of the down host: {detail:?}\n{}",
        show_hosts(&daemon)
    );
    assert!(
        daemon.log_text().contains("host 127.0.0.1, check tcp ("),
        "log state changes logs the change:\n{}",
        daemon.log_text()
    );
}

#[test]
fn a_backend_stopped_and_restarted_shows_within_two_intervals() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start((LOCAL_1, 0), TcpBehaviour::AcceptAndClose);
    let port = backend.addr.port();
    let daemon = daemon(
        "tcp-restart",
        &format!(
            "table <web> {{ 127.0.0.1 }}\n{}",
            relay_using("www", "web", port, "check tcp")
        ),
    );
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);

    drop(backend);
    expect_state(&daemon, "127.0.0.1", "down", TWO_INTERVALS);

    let _backend = TcpBackend::start((LOCAL_1, port), TcpBehaviour::AcceptAndClose);
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);
    // Availability counts every check: some failed, so below 100%.
    let row = host_rows(&daemon)
        .into_iter()
        .find(|r| r.name == "127.0.0.1")
        .expect("row");
    let percent: f64 = row
        .availability
        .trim_end_matches('%')
        .parse()
        .unwrap_or_else(|_| panic!("availability {:?}", row.availability));
    assert!(percent > 0.0 && percent < 100.0, "{}", show_hosts(&daemon));
}

#[test]
fn retry_keeps_a_host_up_through_n_failed_checks() {
    if !daemon_can_run() {
        return;
    }
    let first = TcpBackend::start((LOCAL_1, 0), TcpBehaviour::AcceptAndClose);
    let port = first.addr.port();
    let second = TcpBackend::start((LOCAL_2, port), TcpBehaviour::AcceptAndClose);
    let daemon = daemon(
        "tcp-retry",
        &format!(
            "table <web> {{ 127.0.0.1 127.0.0.2 retry 3 }}\n{}",
            relay_using("www", "web", port, "check tcp")
        ),
    );
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);
    expect_state(&daemon, "127.0.0.2", "up", TWO_INTERVALS);
    assert!(
        host_detail(&daemon, "127.0.0.2").contains("3 retries"),
        "{}",
        show_hosts(&daemon)
    );

    drop(first);
    drop(second);
    // Without retry the first failure counts; the host with `retry 3`
    // absorbs three failed checks (one per second) and stays up meanwhile.
    expect_state(&daemon, "127.0.0.1", "down", TWO_INTERVALS);
    assert_eq!(
        host_state(&daemon, "127.0.0.2").as_deref(),
        Some("up"),
        "retry 3 must absorb the first failures\n{}",
        show_hosts(&daemon)
    );
    expect_state(&daemon, "127.0.0.2", "down", Duration::from_secs(6));
}

#[test]
fn a_host_with_a_parent_follows_it_without_being_checked() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start((LOCAL_1, 0), TcpBehaviour::AcceptAndClose);
    let port = backend.addr.port();
    // 127.0.0.2 has no backend: only its parent (host id 1) makes it up.
    let daemon = daemon(
        "tcp-parent",
        &format!(
            "table <web> {{ 127.0.0.1 127.0.0.2 parent 1 }}\n{}",
            relay_using("www", "web", port, "check tcp")
        ),
    );
    let rows = host_rows(&daemon);
    let parent = rows
        .iter()
        .find(|r| r.name == "127.0.0.1")
        .expect("parent row");
    assert_eq!(parent.id, 1, "the parent must be host 1: {rows:?}");

    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);
    expect_state(&daemon, "127.0.0.2", "up", TWO_INTERVALS);
    drop(backend);
    expect_state(&daemon, "127.0.0.1", "down", TWO_INTERVALS);
    expect_state(&daemon, "127.0.0.2", "down", TWO_INTERVALS);
}

#[test]
fn disable_enable_and_poll_go_through_the_hce() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    // A long interval: only the first round and `poll` check the host.
    let daemon = Daemon::start(
        "tcp-poll",
        &format!(
            "prefork 1\ninterval 60\ntable <web> {{ 127.0.0.1 }}\n{}",
            relay_using("www", "web", port, "check tcp")
        ),
    );
    expect_state(&daemon, "127.0.0.1", "down", TWO_INTERVALS);

    let _backend = TcpBackend::start((LOCAL_1, port), TcpBehaviour::AcceptAndClose);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(host_state(&daemon, "127.0.0.1").as_deref(), Some("down"));
    assert!(daemon.relayctl(&["poll"]).status.success());
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);

    assert!(daemon
        .relayctl(&["host", "disable", "127.0.0.1"])
        .status
        .success());
    expect_state(&daemon, "127.0.0.1", "disabled", TWO_INTERVALS);
    // Checks of a disabled host are ignored.
    assert!(daemon.relayctl(&["poll"]).status.success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        host_state(&daemon, "127.0.0.1").as_deref(),
        Some("disabled")
    );

    assert!(daemon
        .relayctl(&["host", "enable", "127.0.0.1"])
        .status
        .success());
    expect_state(&daemon, "127.0.0.1", "unknown", TWO_INTERVALS);
    assert!(daemon.relayctl(&["poll"]).status.success());
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);
    // Counters started over at enable: one check, one up.
    assert_eq!(host_detail(&daemon, "127.0.0.1"), "total: 1/1 checks");

    // A disabled table is not checked; enabled again, it is.
    let table = first_table(&daemon);
    assert!(daemon
        .relayctl(&["table", "disable", &table])
        .status
        .success());
    assert!(daemon
        .relayctl(&["table", "enable", &table])
        .status
        .success());
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);
}

#[test]
fn monitor_streams_host_state_changes() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start((LOCAL_1, 0), TcpBehaviour::AcceptAndClose);
    let port = backend.addr.port();
    let daemon = daemon(
        "tcp-monitor",
        &format!(
            "table <web> {{ 127.0.0.1 }}\n{}",
            relay_using("www", "web", port, "check tcp")
        ),
    );
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);

    let monitor = Monitor::start(&daemon.socket);
    // Let the monitor subscribe before the change happens.
    std::thread::sleep(Duration::from_millis(300));
    drop(backend);

    let mut seen = Vec::new();
    let found = wait_until(Duration::from_secs(4), || {
        monitor.collect(&mut seen, Duration::ZERO);
        seen.windows(4).any(|w| {
            w[0].starts_with("host_status") && w[1..].iter().any(|l| l.contains("state: down"))
        })
    });
    drop(monitor);
    assert!(found, "no host_status down event:\n{}", seen.join("\n"));
    // Unchanged states are not streamed: one event for one change.
    let events = seen.iter().filter(|l| l.starts_with("host_status")).count();
    assert_eq!(events, 1, "{}", seen.join("\n"));
}

#[test]
fn a_reload_checks_the_new_hosts() {
    if !daemon_can_run() {
        return;
    }
    let first = TcpBackend::start((LOCAL_1, 0), TcpBehaviour::AcceptAndClose);
    let second = TcpBackend::start((LOCAL_2, 0), TcpBehaviour::AcceptAndClose);
    let body = |host: &str, port: u16| {
        format!(
            "prefork 1\ninterval 1\ntable <web> {{ {host} }}\n{}",
            relay_using("www", "web", port, "check tcp")
        )
    };
    let daemon = Daemon::start("tcp-reload", &body("127.0.0.1", first.addr.port()));
    expect_state(&daemon, "127.0.0.1", "up", TWO_INTERVALS);

    daemon.rewrite_config(&body("127.0.0.2", second.addr.port()));
    assert!(daemon.relayctl(&["reload"]).status.success());
    expect_state(&daemon, "127.0.0.2", "up", TWO_INTERVALS);
    assert_eq!(
        host_state(&daemon, "127.0.0.1"),
        None,
        "{}",
        show_hosts(&daemon)
    );
}
