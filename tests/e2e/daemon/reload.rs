//! End-to-end: reloading the configuration with `relayctl reload`, SIGHUP
//! and `relayctl load FILE`; a broken file leaves the running configuration
//! as it was. Needs root; skips otherwise.

use e2e::{
    daemon_can_run, free_port, send_signal, stdout_text, summary_rows, wait_until, Daemon,
    SummaryRow,
};
use std::time::Duration;

fn one_relay(port: u16) -> String {
    format!(
        "prefork 1\n\
         table <web> {{ 127.0.0.1 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port 80 check tcp\n\
         }}\n"
    )
}

fn two_relays(port: u16, other: u16) -> String {
    format!(
        "{}relay api {{\n\
         \tlisten on 127.0.0.1 port {other}\n\
         \tforward to <web> port 80 check tcp\n\
         }}\n",
        one_relay(port)
    )
}

fn summary(daemon: &Daemon) -> Vec<SummaryRow> {
    let out = daemon.relayctl(&["show", "summary"]);
    assert!(out.status.success(), "show summary: {}", daemon.log_text());
    summary_rows(&stdout_text(&out))
}

fn relay_names(daemon: &Daemon) -> Vec<String> {
    summary(daemon)
        .into_iter()
        .filter(|r| r.kind == "relay")
        .map(|r| r.name)
        .collect()
}

#[test]
fn reload_applies_a_changed_config_and_keeps_the_old_one_when_broken() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let daemon = Daemon::start("reload", &one_relay(port));
    assert_eq!(relay_names(&daemon), ["www"]);

    let other = free_port();
    daemon.rewrite_config(&two_relays(port, other));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "reload: {}", daemon.log_text());
    assert_eq!(relay_names(&daemon), ["www", "api"]);
    // The new relay's address is taken by the relay process now.
    assert!(std::net::TcpListener::bind(("127.0.0.1", other)).is_err());

    let before = summary(&daemon);
    daemon.rewrite_config("relay broken {\n\tlisten on\n");
    let out = daemon.relayctl(&["reload"]);
    assert!(
        !out.status.success(),
        "a broken config must fail the reload"
    );
    assert!(
        stdout_text(&out).contains("command failed"),
        "{}",
        stdout_text(&out)
    );
    assert_eq!(summary(&daemon), before);
    assert!(
        daemon.log_text().contains("reload failed") || daemon.log_text().contains("relayd.conf"),
        "the log names the problem:\n{}",
        daemon.log_text()
    );

    // Dropping a relay closes its sockets in every relay process.
    daemon.rewrite_config(&one_relay(port));
    assert!(daemon.relayctl(&["reload"]).status.success());
    assert_eq!(relay_names(&daemon), ["www"]);
    // relayctl returns once every relay process runs the new config.
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", other)).is_ok(),
        "the removed relay's port is still taken"
    );
}

#[test]
fn sighup_reloads_the_file() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let daemon = Daemon::start("sighup", &one_relay(port));
    daemon.rewrite_config(&two_relays(port, free_port()));
    send_signal(daemon.pid, "HUP");
    let reloaded = wait_until(Duration::from_secs(5), || relay_names(&daemon).len() == 2);
    assert!(reloaded, "SIGHUP did not reload:\n{}", daemon.log_text());
}

#[test]
fn load_reads_another_file() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let daemon = Daemon::start("load", &one_relay(port));
    let other = daemon.dir.join("other.conf");
    std::fs::write(
        &other,
        Daemon::config_text(&daemon.socket, &two_relays(port, free_port())),
    )
    .expect("write other config");
    let out = daemon.relayctl(&["load", other.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "load: {}", daemon.log_text());
    assert_eq!(relay_names(&daemon), ["www", "api"]);
}
