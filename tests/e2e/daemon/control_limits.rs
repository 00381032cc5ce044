//! End-to-end: what a control client can cost relayd's parent. At most
//! 128 clients are served at once (one more is closed at once, and served
//! again once a slot is free), an idle connection costs little memory, a
//! client that stops in the middle of a frame (or never says hello) is
//! closed, relayctl gives up on a daemon that does not answer (`-t`), the
//! parent runs with its whole descriptor limit, and a file that is not a
//! configuration (`relayctl load /etc/shadow`) is not echoed back. Needs
//! root (but the relayctl timeout).

use e2e::{
    checked_relay_config, control_stream, daemon_can_run, free_port, proc_status, stdout_text,
    wait_until, Daemon, ScratchDir,
};
use relayd_proto::control::{ControlClient, ControlReply, ControlRequest, CONTROL_VERSION};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// relayd's cap on control connections (`control::MAX_CLIENTS`).
const MAX_CLIENTS: usize = 128;
/// How long relayd gives a client for its hello and for each frame from
/// its first byte (`control::FRAME_TIMEOUT`).
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

fn config() -> String {
    checked_relay_config(1, free_port())
}

fn connect(daemon: &Daemon) -> UnixStream {
    control_stream(&daemon.socket, Duration::from_secs(30))
}

/// A client that said hello and got relayd's; `None` if relayd closed it.
fn greeted(daemon: &Daemon) -> Option<ControlClient> {
    let mut channel = ControlClient::new(connect(daemon));
    channel
        .send(
            &ControlRequest::Hello {
                version: CONTROL_VERSION,
            },
            None,
        )
        .ok()?;
    match channel.recv() {
        Ok(Some(received)) => {
            assert_eq!(
                received.msg,
                ControlReply::Hello {
                    version: CONTROL_VERSION
                }
            );
            Some(channel)
        }
        _ => None,
    }
}

/// Whether relayd closes `stream` (end of file or reset) before the read
/// timeout; panics if it sends anything.
fn closed_by_relayd(mut stream: UnixStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("relayd sent something"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn control_clients_are_capped_and_cost_little() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("control-cap", &config());
    let before = rss_kib(daemon.pid);
    let mut clients: Vec<ControlClient> = (0..MAX_CLIENTS)
        .map(|i| greeted(&daemon).unwrap_or_else(|| panic!("client {i} refused")))
        .collect();
    let after = rss_kib(daemon.pid);
    let per_client = after.saturating_sub(before) * 1024 / MAX_CLIENTS as u64;
    eprintln!("parent VmRSS {before} kB -> {after} kB with {MAX_CLIENTS} idle clients: {per_client} bytes each");
    assert!(
        per_client < 16 * 1024,
        "{per_client} bytes per idle control connection"
    );

    // One more is closed at once; relayctl says so and fails.
    assert!(
        greeted(&daemon).is_none(),
        "client {} was served",
        MAX_CLIENTS + 1
    );
    let full = daemon.relayctl(&["show", "summary"]);
    assert!(!full.status.success(), "{}", stdout_text(&full));
    assert!(
        daemon.log_text().contains("128 clients connected"),
        "{}",
        daemon.log_text()
    );

    // A slot freed is a client served again.
    clients.truncate(MAX_CLIENTS - 1);
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .relayctl(&["show", "summary"])
            .status
            .success()),
        "relayctl not served after a client left; log:\n{}",
        daemon.log_text()
    );
}

#[test]
fn a_truncated_frame_and_a_client_without_hello_are_closed() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("control-partial", &config());
    let channel = greeted(&daemon).expect("served");
    // Connected, and silent: closed FRAME_TIMEOUT after it connected.
    let silent = connect(&daemon);
    // Ten bytes of an 18-byte header, after a proper hello and an idle
    // spell: the frame gets its whole FRAME_TIMEOUT from its first byte
    // (not what is left of a window that began with the wait), then it
    // is closed.
    std::thread::sleep(FRAME_TIMEOUT / 2);
    let mut stream = channel.into_stream();
    let sent = Instant::now();
    stream.write_all(&[0u8; 10]).expect("write half a header");
    assert!(closed_by_relayd(stream), "a truncated frame is held open");
    let held = sent.elapsed();
    assert!(
        held >= FRAME_TIMEOUT - Duration::from_millis(500),
        "a truncated frame was closed {held:?} after its first byte"
    );
    assert!(
        closed_by_relayd(silent),
        "a client that never says hello is held open"
    );
    // relayd itself is fine.
    let out = daemon.relayctl(&["show", "summary"]);
    assert!(
        out.status.success(),
        "{}{}\nlog:\n{}",
        stdout_text(&out),
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );
}

#[test]
fn relayctl_gives_up_on_a_daemon_that_does_not_answer() {
    let dir = ScratchDir::new("relayctl-timeout");
    let path = dir.join("silent.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    // Accepts, reads, never answers (as a daemon stuck or full would).
    let holder = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    let out = Command::new(e2e::bin("relayctl"))
        .arg("-s")
        .arg(&path)
        .args(["-t", "1", "show", "summary"])
        .output()
        .expect("run relayctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("relayd did not answer within 1 seconds"),
        "{stderr}"
    );
    drop(holder);
}

#[test]
fn the_parent_takes_its_whole_descriptor_limit() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start_with_prefix(
        "control-nofile",
        &config(),
        &[],
        &["prlimit", "--nofile=1024:8192", "--"],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.pid)).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["8192", "8192"], "{line}");
}

#[test]
fn a_file_that_is_not_a_configuration_is_not_echoed_back() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("control-secret", &config());
    let dir = ScratchDir::new("control-secret-file");
    let secret = dir.write(
        "shadow",
        "root:$y$j9T$Secr3tHashOfRoot:20228:0:99999:7:::\n\
         operator:*:20228:0:99999:7:::\n\
         \"quoted Secr3t\"\n",
    );
    let out = daemon.relayctl(&["load", &secret.to_string_lossy()]);
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        stdout_text(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("shadow:1:"),
        "the error names the line: {said}"
    );
    for leak in ["Secr3t", "j9T", "operator", "20228"] {
        assert!(!said.contains(leak), "relayctl echoes {leak:?}: {said}");
        assert!(
            !daemon.log_text().contains(leak),
            "the log echoes {leak:?}: {}",
            daemon.log_text()
        );
    }
}
