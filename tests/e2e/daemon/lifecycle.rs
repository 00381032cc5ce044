//! End-to-end: how relayd starts and ends. SIGTERM leaves no process or
//! socket behind; a dead child takes the daemon down with a non-zero
//! status; a second relayd on the same socket refuses to start; without
//! `-d` relayd detaches and returns once it serves. Needs root; skips
//! otherwise.

use e2e::{
    bin, children_of, cmdline, daemon_can_run, free_port, process_alive, relayctl, send_signal,
    wait_until, Daemon, ScratchDir,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn config(port: u16) -> String {
    format!(
        "prefork 2\n\
         table <web> {{ 127.0.0.1 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port 80 check tcp\n\
         }}\n"
    )
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[test]
fn sigterm_leaves_no_process_socket_or_listener_behind() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let mut daemon = Daemon::start("sigterm", &config(port));
    let children = daemon.children();
    assert_eq!(children.len(), 7);
    send_signal(daemon.pid, "TERM");
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status, Some(0), "log:\n{}", daemon.log_text());
    for pid in children {
        assert!(!process_alive(pid), "child {pid} survived");
    }
    assert!(!daemon.socket.exists(), "control socket left behind");
    assert!(port_is_free(port), "listening socket left behind");
}

#[test]
fn a_dead_child_takes_relayd_down_with_a_non_zero_status() {
    if !daemon_can_run() {
        return;
    }
    let mut daemon = Daemon::start("lostchild", &config(free_port()));
    let children = daemon.children();
    let victim = *children
        .iter()
        .find(|pid| cmdline(**pid).starts_with("relayd: relay 2"))
        .expect("relay 2 runs");
    send_signal(victim, "KILL");
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status, Some(1), "log:\n{}", daemon.log_text());
    assert!(
        daemon.log_text().contains("lost child"),
        "{}",
        daemon.log_text()
    );
    for pid in children {
        assert!(!process_alive(pid), "child {pid} survived");
    }
    assert!(!daemon.socket.exists(), "control socket left behind");
}

#[test]
fn a_second_relayd_on_the_same_socket_refuses_to_start() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("second", &config(free_port()));
    let out = Command::new(bin("relayd"))
        .args(["-d", "-f"])
        .arg(&daemon.config)
        .stdin(Stdio::null())
        .output()
        .expect("run relayd");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use"), "{stderr}");
    // The first one still answers.
    assert!(daemon.relayctl(&["show", "summary"]).status.success());
}

#[test]
fn without_d_relayd_detaches_and_returns_once_it_serves() {
    if !daemon_can_run() {
        return;
    }
    let dir = ScratchDir::new("detach");
    let socket = dir.join("relayd.sock");
    let config_path = dir.join("relayd.conf");
    std::fs::write(
        &config_path,
        Daemon::config_text(&socket, &config(free_port())),
    )
    .expect("write config");
    let status = Command::new(bin("relayd"))
        .arg("-f")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run relayd");
    assert!(status.success());
    // It returned only once the control socket answers.
    let summary = relayctl(&socket, &["show", "summary"]);
    let daemon_pid = find_daemon(&config_path);
    let cleanup = KillOnDrop(daemon_pid);
    assert!(summary.status.success());
    let pid = daemon_pid.expect("the detached relayd runs");
    // Detached: a session leader of its own, not our child.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    assert_eq!(
        fields.get(3),
        Some(&pid.to_string().as_str()),
        "session id is its pid"
    );
    assert_eq!(children_of(pid).len(), 7);
    send_signal(pid, "TERM");
    assert!(wait_until(Duration::from_secs(10), || !process_alive(pid)));
    assert!(!socket.exists());
    drop(cleanup);
}

/// The pid of the `relayd -f CONFIG` started by a test.
fn find_daemon(config: &Path) -> Option<u32> {
    let wanted = format!("-f {}", config.display());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let line = cmdline(*pid);
            line.contains("relayd") && line.ends_with(&wanted) && process_alive(*pid)
        })
}

/// Kills a detached daemon if the test fails before it does.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            if process_alive(pid) {
                let children = children_of(pid);
                send_signal(pid, "KILL");
                for child in children {
                    send_signal(child, "KILL");
                }
            }
        }
    }
}

#[test]
fn a_killed_parent_takes_its_children_along_and_a_restart_reuses_its_socket() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let mut daemon = Daemon::start("killed", &config(port));
    let children = daemon.children();
    send_signal(daemon.pid, "KILL");
    assert!(daemon.wait_exit(Duration::from_secs(5)).is_some());
    let all_gone = wait_until(Duration::from_secs(5), || {
        children.iter().all(|pid| !process_alive(*pid))
    });
    assert!(all_gone, "children outlived a killed parent");
    // SIGKILL gave it no chance to unlink the socket: a new relayd replaces
    // the stale one instead of refusing to start.
    assert!(daemon.socket.exists());
    let restarted = Command::new(bin("relayd"))
        .args(["-d", "-f"])
        .arg(&daemon.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("restart relayd");
    let mut guard = KillOnDrop(Some(restarted.id()));
    let serving = wait_until(Duration::from_secs(10), || {
        relayctl(&daemon.socket, &["show", "summary"])
            .status
            .success()
    });
    assert!(serving, "the restarted relayd does not serve");
    send_signal(restarted.id(), "TERM");
    let mut restarted = restarted;
    let _ = restarted.wait();
    guard.0 = None;
    assert!(port_is_free(port));
}
