//! End-to-end: a configuration one child refuses. The pfe refuses a
//! configuration whose redirections it cannot install (it has the kernel
//! check them first); here a debug-build hook makes it refuse the redirect
//! named `refused` (`RELAYD_TEST_PFE_REFUSES`, pfe/test_hook.rs). On reload
//! the refusal reaches relayctl and the log, every child keeps the running
//! configuration, and a later good reload works; at startup relayd stops
//! with the reason. The accepted configurations use the longest redirect
//! name and tag relayd.conf(5) allows, whose rule comment nftables would
//! refuse uncut. relayd runs in a network namespace of the test's own.
//! Needs root, iproute2 and nf_tables.

use e2e::{
    bin, daemon_can_run, free_port, or_skip, stdout_text, summary_rows, wait_until, Daemon,
    Namespace, ScratchDir,
};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The longest redirect name and tag relayd.conf(5) takes: together they
/// make a rule comment longer than nftables keeps.
fn longest_name(letter: char) -> String {
    std::iter::repeat_n(letter, 63).collect()
}

/// A namespace of the test's own where nf_tables works.
fn nft_namespace(label: &str) -> Option<Namespace> {
    if !daemon_can_run() {
        return None;
    }
    let namespace = or_skip(Namespace::create(label))?;
    or_skip(
        namespace
            .exec(&["nft", "add", "table", "inet", "relayd_probe"])
            .and_then(|_| namespace.exec(&["nft", "delete", "table", "inet", "relayd_probe"])),
    )?;
    Some(namespace)
}

/// `nft list table inet relayd` in the namespace, if it exists.
fn relayd_table(namespace: &Namespace) -> Option<String> {
    namespace
        .exec(&["nft", "list", "table", "inet", "relayd"])
        .ok()
}

/// The hook that makes the pfe refuse the redirect named `refused`.
const REFUSE: (&str, &str) = ("RELAYD_TEST_PFE_REFUSES", "refused");

/// A redirect (`refused`: the one the pfe refuses; else with the longest
/// name and tag) and one relay per port.
fn config(redirect_port: u16, refused: bool, relay_ports: &[u16]) -> String {
    let (name, tag) = if refused {
        (REFUSE.1.to_string(), String::new())
    } else {
        (
            longest_name('w'),
            format!("\tpftag {}\n", longest_name('t')),
        )
    };
    let mut text = format!(
        "prefork 1\n\
         table <web> {{ 127.0.0.1 }}\n\
         redirect {name} {{\n\
         \tlisten on 127.0.0.1 port {redirect_port}\n\
         \tforward to <web> port 80 check tcp\n\
         {tag}\
         }}\n"
    );
    for port in relay_ports {
        text += &format!(
            "relay r{port} {{\n\
             \tlisten on 127.0.0.1 port {port}\n\
             \tforward to <web> port 80 check tcp\n\
             }}\n"
        );
    }
    text
}

/// The (type, name) of every object `show summary` lists.
fn objects(daemon: &Daemon) -> BTreeSet<(String, String)> {
    let out = daemon.relayctl(&["show", "summary"]);
    assert!(out.status.success(), "show summary: {}", daemon.log_text());
    summary_rows(&stdout_text(&out))
        .into_iter()
        .map(|row| (row.kind, row.name))
        .collect()
}

#[test]
fn a_reload_one_child_refuses_changes_nothing_and_says_why() {
    let Some(namespace) = nft_namespace("abort-reload") else {
        return;
    };
    let (redirect, kept, added) = (free_port(), free_port(), free_port());
    let daemon = Daemon::start_in_with_env(
        &namespace,
        "abort-reload",
        &config(redirect, false, &[kept]),
        &[REFUSE],
    );
    let before = objects(&daemon);
    let table_before = relayd_table(&namespace).expect("the pfe built its table");

    daemon.rewrite_config(&config(redirect, true, &[kept, added]));
    let out = daemon.relayctl(&["reload"]);
    let said = stdout_text(&out);
    assert!(!out.status.success(), "the reload must fail: {said}");
    assert!(
        said.contains(
            "command failed: pfe refused the configuration: nftables refuses the redirections"
        ),
        "{said}"
    );
    assert!(said.contains("refuses redirect refused"), "{said}");
    assert!(
        daemon
            .log_text()
            .contains("reload failed, keeping the running configuration: pfe refused"),
        "{}",
        daemon.log_text()
    );
    // Nobody runs the refused configuration: no new relay, same rules.
    assert_eq!(objects(&daemon), before);
    assert_eq!(
        relayd_table(&namespace).as_deref(),
        Some(table_before.as_str())
    );

    // The children dropped it: a good configuration goes through.
    daemon.rewrite_config(&config(redirect, false, &[kept, added]));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "reload: {}", daemon.log_text());
    let after = objects(&daemon);
    assert!(
        after.contains(&("relay".to_string(), format!("r{added}"))),
        "{after:?}"
    );
}

#[test]
fn a_configuration_one_child_refuses_at_startup_stops_relayd_with_the_reason() {
    let Some(namespace) = nft_namespace("abort-start") else {
        return;
    };
    let dir = ScratchDir::new("abort-start");
    let socket = dir.join("relayd.sock");
    let file = dir.join("relayd.conf");
    let body = config(free_port(), true, &[free_port()]);
    std::fs::write(&file, Daemon::config_text(&socket, &body)).expect("write config");
    let log = dir.join("relayd.log");
    let log_file = std::fs::File::create(&log).expect("create log");
    let mut relayd = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(bin("relayd"))
        .args(["-d", "-f"])
        .arg(&file)
        .env(REFUSE.0, REFUSE.1)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("dup log"))
        .stderr(log_file)
        .spawn()
        .expect("start relayd");
    let exited = wait_until(Duration::from_secs(10), || {
        matches!(relayd.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = relayd.kill();
    }
    let status = relayd.wait().expect("wait relayd");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        exited,
        "relayd kept running on a refused configuration:\n{logged}"
    );
    assert_eq!(status.code(), Some(1), "{logged}");
    assert!(
        logged.contains("pfe refused the configuration: nftables refuses the redirections"),
        "{logged}"
    );
    assert!(!socket.exists(), "the control socket is gone");
    assert_eq!(relayd_table(&namespace), None, "no table left behind");
}
