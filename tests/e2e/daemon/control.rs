//! End-to-end: relayctl against a running relayd: `show summary`, enabling
//! and disabling hosts and tables by name and by id, unique command
//! prefixes, failures for unknown objects and empty answers for what is
//! not configured. Needs root; skips otherwise.

use e2e::{daemon_can_run, free_port, status_of, stdout_text, summary_rows, Daemon};

fn config(port: u16) -> String {
    format!(
        "prefork 1\n\
         table <web> {{ 127.0.0.1 127.0.0.2 }}\n\
         table <spare> {{ 127.0.0.3 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port 80 check tcp\n\
         }}\n"
    )
}

/// Runs relayctl, asserting success, and returns its stdout.
fn ok(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.relayctl(args);
    assert!(
        out.status.success(),
        "relayctl {args:?} failed: {}{}\nrelayd log:\n{}",
        stdout_text(&out),
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );
    stdout_text(&out)
}

#[test]
fn show_summary_lists_relays_tables_and_hosts() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("summary", &config(free_port()));
    let rows = summary_rows(&ok(&daemon, &["show", "summary"]));
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    // The relay, its table and hosts in relayd's order; the unused table
    // and its host after them.
    assert_eq!(&kinds[0], &("relay", "www"), "{rows:?}");
    assert_eq!(&kinds[1].0, &"table", "{rows:?}");
    assert!(kinds[1].1.starts_with("web"), "{rows:?}");
    assert_eq!(
        &kinds[2..4],
        &[("host", "127.0.0.1"), ("host", "127.0.0.2")],
        "{rows:?}"
    );
    assert!(kinds.contains(&("table", "spare")), "{rows:?}");
    assert!(kinds.contains(&("host", "127.0.0.3")), "{rows:?}");
    assert_eq!(rows[0].status, "active");
    // Nothing listens on the checked port: hosts are unknown until their
    // first check, then down; never up.
    assert!(rows
        .iter()
        .filter(|r| r.kind == "host")
        .all(|r| checked_or_not_yet(&r.status)));
    // A unique prefix of a command works as in relayctl(8).
    assert_eq!(summary_rows(&ok(&daemon, &["show", "su"])), rows);
}

/// The states of a host nobody answers for: before and after its first check.
fn checked_or_not_yet(status: &str) -> bool {
    status == "unknown" || status == "down"
}

/// The id of the host row named `name` in the web table (the first one).
fn host_id(daemon: &Daemon, name: &str) -> u32 {
    summary_rows(&ok(daemon, &["show", "hosts"]))
        .iter()
        .find(|r| r.kind == "host" && r.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
        .id
}

#[test]
fn disabling_and_enabling_hosts_by_name_and_by_id_shows_in_show_hosts() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("hosts", &config(free_port()));
    let first = host_id(&daemon, "127.0.0.1");
    let second = host_id(&daemon, "127.0.0.2");
    let host_status =
        |id: u32| status_of(&summary_rows(&ok(&daemon, &["show", "hosts"])), "host", id);
    let enabled = |id: u32| host_status(id).is_some_and(|s| checked_or_not_yet(&s));
    assert!(enabled(second), "{:?}", host_status(second));

    let out = ok(&daemon, &["host", "disable", "127.0.0.2"]);
    assert!(out.contains("command succeeded"), "{out}");
    assert_eq!(host_status(second).as_deref(), Some("disabled"));
    assert!(enabled(first), "{:?}", host_status(first));

    ok(&daemon, &["host", "enable", &second.to_string()]);
    assert!(enabled(second), "{:?}", host_status(second));

    ok(&daemon, &["host", "disable", &first.to_string()]);
    assert_eq!(host_status(first).as_deref(), Some("disabled"));
    ok(&daemon, &["host", "enable", "127.0.0.1"]);
    assert!(enabled(first), "{:?}", host_status(first));
}

#[test]
fn disabling_a_table_hides_its_hosts() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("tables", &config(free_port()));
    let hosts = |daemon: &Daemon| {
        summary_rows(&ok(daemon, &["show", "summary"]))
            .into_iter()
            .filter(|r| r.kind == "host")
            .count()
    };
    assert_eq!(hosts(&daemon), 3);
    ok(&daemon, &["table", "disable", "spare"]);
    let rows = summary_rows(&ok(&daemon, &["show", "summary"]));
    let spare = rows.iter().find(|r| r.name == "spare").expect("spare row");
    assert_eq!(spare.status, "disabled");
    assert!(rows.iter().all(|r| r.name != "127.0.0.3"), "{rows:?}");
    assert_eq!(hosts(&daemon), 2);
    ok(&daemon, &["table", "enable", &spare.id.to_string()]);
    assert_eq!(hosts(&daemon), 3);
}

#[test]
fn unknown_objects_fail_with_a_non_zero_exit_status() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("unknown", &config(free_port()));
    for args in [
        ["host", "disable", "192.0.2.99"],
        ["host", "disable", "999"],
        ["table", "disable", "nope"],
        ["redirect", "disable", "nope"],
    ] {
        let out = daemon.relayctl(&args);
        assert!(!out.status.success(), "relayctl {args:?} should fail");
        assert!(
            stdout_text(&out).contains("command failed"),
            "{args:?}: {}",
            stdout_text(&out)
        );
    }
    // Nothing changed: no host was disabled.
    let rows = summary_rows(&ok(&daemon, &["show", "hosts"]));
    assert!(rows
        .iter()
        .filter(|r| r.kind == "host")
        .all(|r| checked_or_not_yet(&r.status)));
}

#[test]
fn show_commands_list_nothing_that_is_not_configured() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("honest", &config(free_port()));
    // No redirects, routers or sessions are configured or running.
    for args in [
        ["show", "redirects"],
        ["show", "routers"],
        ["show", "sessions"],
    ] {
        let rows = summary_rows(&ok(&daemon, &args));
        assert!(rows.is_empty(), "{args:?}: {rows:?}");
    }
    ok(&daemon, &["poll"]);
    ok(&daemon, &["log", "verbose"]);
    ok(&daemon, &["log", "brief"]);
}

#[test]
fn the_control_socket_is_root_owned_mode_0660() {
    if !daemon_can_run() {
        return;
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let daemon = Daemon::start("sockmode", &config(free_port()));
    let meta = std::fs::metadata(&daemon.socket).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.uid(), 0);
}

#[test]
fn monitor_streams_enable_and_disable_events() {
    if !daemon_can_run() {
        return;
    }
    use std::time::Duration;

    let daemon = Daemon::start("monitor", &config(free_port()));
    let monitor = e2e::Monitor::start(&daemon.socket);
    // The monitor subscribes asynchronously: repeat the command until an
    // event shows up, within a bounded time.
    let mut seen = Vec::new();
    for _ in 0..50 {
        ok(&daemon, &["host", "disable", "127.0.0.3"]);
        ok(&daemon, &["host", "enable", "127.0.0.3"]);
        monitor.collect(&mut seen, Duration::from_millis(100));
        if seen.iter().any(|l| l.contains("ctl_host_disable")) {
            break;
        }
    }
    drop(monitor);
    assert!(
        seen.iter().any(|l| l.contains("ctl_host_disable")),
        "monitor printed: {seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("ctl_host_enable")),
        "{seen:?}"
    );
}
