//! End-to-end: `relayctl table add|remove TABLE HOST` change a running
//! table without a reload: a new host is checked at once and gets
//! sessions once up, a removed host gets no new session while its open
//! ones go on, `show hosts` follows, a reload starts from the file again;
//! refusals name what is wrong, only root may change tables, and 100
//! changes under load lose no request.

use e2e::{
    bin, daemon_can_run, free_port, host_rows, host_state, read_line, stdout_text, wait_until,
    which_backend, ClientLoop, Daemon, LoadAnswer, LoadBackend, LoopKind, TcpBackend, TcpBehaviour,
};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// One relay over `<web>` (hosts `hosts`) on `backend`, checked every
/// second.
fn config(port: u16, backend: u16, hosts: &str, protocol: &str) -> String {
    format!(
        "prefork 2\n\
         interval 1\n\
         table <web> {{ {hosts} }}\n\
         {protocol}\
         relay r {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         {}\
         \tforward to <web> port {backend} mode roundrobin check tcp\n\
         }}\n",
        if protocol.is_empty() {
            ""
        } else {
            "\tprotocol p\n"
        }
    )
}

fn hosts_of(daemon: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = host_rows(daemon).into_iter().map(|r| r.name).collect();
    names.sort();
    names
}

fn up(daemon: &Daemon, host: &str) -> bool {
    wait_until(Duration::from_secs(20), || {
        host_state(daemon, host).as_deref() == Some("up")
    })
}

#[test]
fn hosts_join_and_leave_a_running_table() {
    if !daemon_can_run() {
        return;
    }
    let backend_port = free_port();
    let a = TcpBackend::start(("127.0.0.1", backend_port), TcpBehaviour::Named("a".into()));
    let b = TcpBackend::start(("127.0.0.2", backend_port), TcpBehaviour::Named("b".into()));
    let port = free_port();
    let daemon = Daemon::start("tables", &config(port, backend_port, "127.0.0.1", ""));
    assert!(up(&daemon, "127.0.0.1"), "{}", daemon.log_text());
    let table = format!("web:{backend_port}");

    let out = daemon.relayctl(&["table", "add", &table, "127.0.0.2"]);
    assert!(out.status.success(), "add: {}", stdout_text(&out));
    assert_eq!(hosts_of(&daemon), ["127.0.0.1", "127.0.0.2"]);
    assert!(up(&daemon, "127.0.0.2"), "{}", daemon.log_text());
    assert_eq!(host_state(&daemon, "127.0.0.1").as_deref(), Some("up"));
    let seen: Vec<String> = (0..6).map(|_| which_backend(port)).collect();
    assert!(
        seen.iter().any(|n| n == "a") && seen.iter().any(|n| n == "b"),
        "round robin over both hosts: {seen:?}"
    );

    // A session to a is open when a leaves the table.
    let mut on_a = loop {
        let mut session = e2e::connect(port);
        if read_line(&mut session).expect("name") == "a" {
            break session;
        }
    };
    let out = daemon.relayctl(&["table", "remove", &table, "127.0.0.1"]);
    assert!(out.status.success(), "remove: {}", stdout_text(&out));
    assert_eq!(hosts_of(&daemon), ["127.0.0.2"]);
    let seen: Vec<String> = (0..4).map(|_| which_backend(port)).collect();
    assert!(
        seen.iter().all(|n| n == "b"),
        "a got new sessions: {seen:?}"
    );
    on_a.write_all(b"still a\n").expect("write");
    assert_eq!(read_line(&mut on_a).expect("echo"), "still a");
    drop(on_a);

    // A reload starts from the file again.
    assert!(daemon.relayctl(&["reload"]).status.success());
    assert_eq!(hosts_of(&daemon), ["127.0.0.1"]);
    drop((a, b));
}

#[test]
fn table_changes_are_refused_with_the_reason() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let backend = free_port();
    let daemon = Daemon::start("tables-refused", &config(port, backend, "127.0.0.1", ""));
    let table = format!("web:{backend}");
    let refused = |args: &[&str], why: &str| {
        let out = daemon.relayctl(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stdout_text(&out).contains(why),
            "{args:?}: {}",
            stdout_text(&out)
        );
    };
    refused(&["table", "add", "nope", "127.0.0.2"], "no such table nope");
    refused(
        &["table", "add", &table, "backend.example"],
        "backend.example is not an IP address",
    );
    refused(
        &["table", "add", &table, "127.0.0.1"],
        &format!("table {table} has host 127.0.0.1 already"),
    );
    refused(
        &["table", "remove", &table, "127.0.0.9"],
        &format!("table {table} has no host 127.0.0.9"),
    );
    refused(
        &["table", "remove", &table, "127.0.0.1"],
        &format!("host 127.0.0.1 is the last of table {table}"),
    );
    assert_eq!(hosts_of(&daemon), ["127.0.0.1"]);

    // Another user may read, not change: the socket opened to everyone.
    let open = |path: &std::path::Path, mode| {
        let mode = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(path, mode).expect("chmod for nobody");
    };
    open(&daemon.dir.path, 0o755);
    open(&daemon.socket, 0o666);
    let (uid, gid) = e2e::user_ids("nobody").expect("user nobody");
    let as_nobody = |args: &[&str]| {
        Command::new(bin("relayctl"))
            .arg("-s")
            .arg(&daemon.socket)
            .args(args)
            .uid(uid)
            .gid(gid)
            .output()
            .expect("run relayctl as nobody")
    };
    assert!(as_nobody(&["show", "summary"]).status.success());
    let out = as_nobody(&["table", "add", &table, "127.0.0.2"]);
    assert!(!out.status.success());
    assert!(
        stdout_text(&out).contains("only root may change tables"),
        "{}",
        stdout_text(&out)
    );
    assert_eq!(hosts_of(&daemon), ["127.0.0.1"]);
}

#[test]
fn a_hundred_table_changes_under_load_lose_nothing() {
    if !daemon_can_run() {
        return;
    }
    let backend_port = free_port();
    let _a = LoadBackend::start_on(&format!("127.0.0.1:{backend_port}"), "a", LoadAnswer::Http);
    let _b = LoadBackend::start_on(&format!("127.0.0.2:{backend_port}"), "b", LoadAnswer::Http);
    let port = free_port();
    let protocol = "http protocol p { }\n";
    let daemon = Daemon::start(
        "tables-load",
        &config(port, backend_port, "127.0.0.1", protocol),
    );
    assert!(up(&daemon, "127.0.0.1"), "{}", daemon.log_text());
    let table = format!("web:{backend_port}");
    let loops = [
        ClientLoop::start(port, LoopKind::HttpPerRequest),
        ClientLoop::start(port, LoopKind::HttpKeepAlive),
    ];
    for round in 0..50 {
        let out = daemon.relayctl(&["table", "add", &table, "127.0.0.2"]);
        assert!(out.status.success(), "add {round}: {}", stdout_text(&out));
        let out = daemon.relayctl(&["table", "remove", &table, "127.0.0.2"]);
        assert!(
            out.status.success(),
            "remove {round}: {}",
            stdout_text(&out)
        );
    }
    for (n, count) in loops.into_iter().map(ClientLoop::finish).enumerate() {
        eprintln!("loop {n} through 100 table changes: {count:?}");
        assert!(count.ok > 0, "loop {n} got nothing through");
        assert_eq!(
            count.failures(),
            0,
            "loop {n} lost requests: {count:?}\n{}",
            daemon.log_text()
        );
    }
}
