//! End-to-end: `demote` as keepalived track files. A table's group reads 1
//! while every host of the table is down and 0 once one is up; the global
//! group reads 0 while relayd runs and 1 after it stops. Needs root.

use e2e::{daemon_can_run, free_port, send_signal, wait_until, Daemon, ScratchDir};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

fn track_file(dir: &Path, group: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(group))
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn demote_groups_follow_table_health_and_the_daemon_lifetime() {
    if !daemon_can_run() {
        return;
    }
    let track_dir = ScratchDir::new("demote-track");
    let backend_port = free_port();
    let config = format!(
        "interval 1\n\
         demote lb\n\
         table <web> {{ 127.0.0.1 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {}\n\
         \tforward to <web> port {backend_port} check tcp demote www\n\
         }}\n",
        free_port()
    );
    let dir = track_dir.join("");
    let dir_text = dir.to_string_lossy().to_string();
    let mut daemon = Daemon::start_with_env("demote", &config, &[("RELAYD_DEMOTE_DIR", &dir_text)]);
    let wait_for = |group: &str, value: &str| {
        wait_until(Duration::from_secs(5), || {
            track_file(&dir, group).as_deref() == Some(value)
        })
    };

    assert!(
        wait_for("lb", "0"),
        "global group while running: {:?}",
        track_file(&dir, "lb")
    );
    // Nothing listens on the backend port: the only host goes down.
    assert!(
        wait_for("www", "1"),
        "www: {:?}\n{}",
        track_file(&dir, "www"),
        daemon.log_text()
    );

    let backend = TcpListener::bind(("127.0.0.1", backend_port)).expect("backend");
    assert!(
        wait_for("www", "0"),
        "www: {:?}\n{}",
        track_file(&dir, "www"),
        daemon.log_text()
    );
    drop(backend);

    send_signal(daemon.pid, "TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(track_file(&dir, "lb").as_deref(), Some("1"));
    assert_eq!(track_file(&dir, "www").as_deref(), Some("0"));
}
