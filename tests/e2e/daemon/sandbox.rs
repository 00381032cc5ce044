//! End-to-end: every child's sandbox seen from outside. Each child runs
//! with a seccomp filter (`Seccomp: 2` in /proc/PID/status), no_new_privs
//! and no capability but the pfe's CAP_NET_ADMIN; a relay that makes a
//! call its list does not have (a debug build's test hook makes it signal
//! another process, as a compromised relay signalling a sibling would) is killed with SIGSYS, and
//! the parent logs which child made which call before relayd stops.
//! Under landlock no child opens a file, even inside its chroot, or
//! binds a TCP port, and only the hce and the relays connect over TCP.
//! Needs root.

use e2e::{
    bin, checked_relay_config, confinement, daemon_can_run, free_port, proc_status, Confinement,
    Daemon, ScratchDir,
};
use std::process::{Command, Stdio};

fn config() -> String {
    checked_relay_config(2, free_port())
}

/// CapEff of a process with only CAP_NET_ADMIN (bit 12).
const NET_ADMIN_ONLY: &str = "0000000000001000";
const NONE: &str = "0000000000000000";

#[test]
fn every_child_runs_under_its_seccomp_filter_without_new_privileges() {
    if !daemon_can_run() {
        return;
    }
    let mut daemon = Daemon::start("sandbox-status", &config());
    let children = daemon.children();
    assert_eq!(children.len(), 7, "hce, pfe, 2 relays, 2 cas, metrics");
    for pid in children {
        let title = e2e::cmdline(pid);
        let caps = if title.starts_with("relayd: pfe") {
            NET_ADMIN_ONLY
        } else {
            NONE
        };
        assert_eq!(confinement(pid), Confinement::child(caps), "{title}");
    }
    // The parent is not confined: it runs check scripts and reloads.
    assert_eq!(proc_status(daemon.pid, "Seccomp").as_deref(), Some("0"));
}

#[test]
fn a_relay_signalling_another_process_is_killed_and_the_call_logged() {
    if !daemon_can_run() {
        return;
    }
    let dir = ScratchDir::new("sandbox-forbidden");
    let socket = dir.join("relayd.sock");
    let config = dir.write("relayd.conf", &Daemon::config_text(&socket, &config()));
    let out = Command::new(bin("relayd"))
        .args(["-d", "-v", "-f"])
        .arg(&config)
        .env("RELAYD_TEST_FORBIDDEN_CALL", "relay")
        .stdin(Stdio::null())
        .output()
        .expect("run relayd");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("killed by its sandbox: system call kill ("),
        "the parent names the call:\n{log}"
    );
    let killed = log
        .lines()
        .find(|l| l.contains("killed by its sandbox"))
        .unwrap_or_default();
    assert!(killed.starts_with("parent: relay "), "{killed}");
    // The parent was not signalled: it shut down on its own terms.
    assert!(!socket.exists(), "control socket left behind:\n{log}");
}

#[test]
fn under_landlock_no_child_opens_a_file_or_binds_tcp_and_only_hce_and_relays_connect() {
    if !daemon_can_run() {
        return;
    }
    // A chroot with a file every child could read without landlock.
    let jail = ScratchDir::new("sandbox-jail");
    jail.write("probe", "readable\n");
    let _ = Command::new("chmod")
        .args(["0755", &jail.path.to_string_lossy()])
        .status();
    let _ = Command::new("chmod")
        .args(["0644", &jail.join("probe").to_string_lossy()])
        .status();
    let jail_path = jail.path.to_string_lossy().into_owned();
    let daemon = Daemon::start_with_env(
        "sandbox-landlock",
        &config(),
        &[
            ("RELAYD_CHROOT", &jail_path),
            ("RELAYD_TEST_LANDLOCK_PROBE", "/probe"),
        ],
    );
    let log = daemon.log_text();
    let probes = |what: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(&format!("landlock probe {what}:")))
            .map(str::to_string)
            .collect()
    };
    const DENIED: &str = "Permission denied (os error 13)";
    let files = probes("/probe");
    assert_eq!(files.len(), 7, "one probe per child:\n{log}");
    for probe in files {
        assert!(probe.ends_with(DENIED), "{probe}");
    }
    // No child binds a TCP port; only the hce and the relays connect
    // (nothing listens on port 1: refused, not denied).
    let binds = probes("tcp bind");
    assert_eq!(binds.len(), 7, "{log}");
    for probe in binds {
        assert!(probe.ends_with(DENIED), "{probe}");
    }
    let connects = probes("tcp connect");
    assert_eq!(connects.len(), 7, "{log}");
    for probe in connects {
        let connects_out = probe.starts_with("hce:") || probe.starts_with("relay ");
        let expected = if connects_out {
            "Connection refused (os error 111)"
        } else {
            DENIED
        };
        assert!(probe.ends_with(expected), "{probe}");
    }
}
