//! End-to-end: TCP relays to a fixed address (`forward to ADDRESS port P`):
//! large transfers with identical checksums on both ends in both
//! directions (splice and buffered copy), half-close, a backend killed in
//! the middle of a session, idle timeout, `disable`, `show sessions` while
//! sessions are open and `show relays` counters. Needs root; skips
//! otherwise.

use e2e::{
    connect, daemon_can_run, free_port, pattern, process_alive, read_line, reset_on_drop,
    round_trip, stdout_text, wait_until, which_backend, Checksum, Daemon, TcpBackend, TcpBehaviour,
};
use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

fn relay_config(port: u16, backend: u16, extra: &str) -> String {
    format!(
        "prefork 1\n\
         relay tcpfwd {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to 127.0.0.1 port {backend}\n\
         {extra}\
         }}\n"
    )
}

fn large_transfer_through(config: &str, port: u16, backend: TcpBackend) {
    let daemon = Daemon::start("relay-bulk", config);
    let data = pattern(24 << 20, 7);
    let mut stream = connect(port);
    let back = round_trip(&mut stream, &data);
    assert_eq!(back.len(), data.len(), "log:\n{}", daemon.log_text());
    assert_eq!(
        Checksum::of(&back),
        Checksum::of(&data),
        "client -> server -> client"
    );
    let (sum, len) = backend
        .received
        .recv_timeout(Duration::from_secs(20))
        .expect("backend saw the end of the upload");
    assert_eq!((sum, len), (Checksum::of(&data), data.len() as u64));
}

#[test]
fn a_large_transfer_keeps_its_checksum_in_both_directions_with_splice() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    large_transfer_through(&relay_config(port, backend.port(), ""), port, backend);
}

#[test]
fn a_large_transfer_keeps_its_checksum_with_the_buffered_copy() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let config = format!(
        "protocol nosplice {{\n\ttcp {{ nodelay, no splice }}\n}}\n{}",
        relay_config(port, backend.port(), "\tprotocol nosplice\n")
    );
    large_transfer_through(&config, port, backend);
}

#[test]
fn half_close_passes_the_end_of_the_upload_and_keeps_the_answer_flowing() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::ReplyAfterEof);
    let port = free_port();
    let daemon = Daemon::start("relay-halfclose", &relay_config(port, backend.port(), ""));
    let mut stream = connect(port);
    stream.write_all(b"twelve bytes").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    // The backend only answers after it saw our half-close.
    assert_eq!(
        read_line(&mut stream).unwrap(),
        "got 12 bytes",
        "log:\n{}",
        daemon.log_text()
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn a_backend_killed_mid_session_closes_the_client_and_the_relay_goes_on() {
    if !daemon_can_run() {
        return;
    }
    let mut backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let backend_addr = backend.addr;
    let port = free_port();
    let mut daemon = Daemon::start("relay-kill", &relay_config(port, backend.port(), ""));
    let children = daemon.children();
    let mut stream = connect(port);
    stream.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut stream).unwrap(), "ping");
    backend.kill();
    // The client sees the end: end of file or a reset, not a hang.
    let mut buffer = [0u8; 16];
    let started = Instant::now();
    match stream.read(&mut buffer) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the close, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Same relay processes, and a new backend on the same address serves.
    assert!(process_alive(daemon.pid));
    assert_eq!(daemon.children(), children);
    let _again = TcpBackend::start(backend_addr, TcpBehaviour::Named("again".to_string()));
    let mut stream = connect(port);
    assert_eq!(
        read_line(&mut stream).unwrap(),
        "again",
        "log:\n{}",
        daemon.log_text()
    );
}

#[test]
fn resets_pass_through_the_relay_both_ways() {
    if !daemon_can_run() {
        return;
    }
    // The backend resets: the client sees a reset, not a clean end.
    let resetting = TcpBackend::start("127.0.0.1:0", TcpBehaviour::ResetOnData);
    let port = free_port();
    let daemon = Daemon::start("relay-rst", &relay_config(port, resetting.port(), ""));
    let mut stream = connect(port);
    stream.write_all(b"boom\n").unwrap();
    let mut buffer = [0u8; 8];
    let read = stream.read(&mut buffer);
    assert!(
        matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{read:?}; log:\n{}",
        daemon.log_text()
    );
    drop(daemon);
    // The client resets: the backend sees a reset, so it never reports a
    // finished upload (it does on a clean end of file).
    let echo = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let _daemon = Daemon::start("relay-rst2", &relay_config(port, echo.port(), ""));
    let mut stream = connect(port);
    stream.write_all(b"hi\n").unwrap();
    assert_eq!(read_line(&mut stream).unwrap(), "hi");
    reset_on_drop(&stream);
    drop(stream);
    assert!(echo.received.recv_timeout(Duration::from_secs(2)).is_err());
    // A clean close does report, for comparison.
    let mut stream = connect(port);
    assert_eq!(round_trip(&mut stream, b"ok"), b"ok");
    assert!(echo.received.recv_timeout(Duration::from_secs(5)).is_ok());
}

#[test]
fn an_idle_session_is_closed_after_the_session_timeout() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let config = relay_config(port, backend.port(), "\tsession timeout 2\n");
    let daemon = Daemon::start("relay-idle", &config);
    let mut idle = connect(port);
    idle.write_all(b"x\n").unwrap();
    assert_eq!(read_line(&mut idle).unwrap(), "x");
    // A busy session outlives the timeout.
    let mut busy = connect(port);
    let started = Instant::now();
    for i in 0..5 {
        busy.write_all(format!("{i}\n").as_bytes()).unwrap();
        assert_eq!(read_line(&mut busy).unwrap(), i.to_string());
        thread::sleep(Duration::from_millis(700));
    }
    assert!(started.elapsed() > Duration::from_secs(3));
    // The idle one was closed after about 2 s.
    let mut buffer = [0u8; 4];
    let n = idle.read(&mut buffer).unwrap_or(0);
    assert_eq!(n, 0, "idle session still open; log:\n{}", daemon.log_text());
}

#[test]
fn a_session_idle_for_a_while_wakes_up_in_both_directions() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::ReplyAfterEof);
    let echo = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Named("echo".to_string()));
    let port = free_port();
    let echo_port = free_port();
    let config = format!(
        "{}relay echo {{\n\tlisten on 127.0.0.1 port {echo_port}\n\tforward to 127.0.0.1 port {}\n}}\n",
        relay_config(port, backend.port(), ""),
        echo.port()
    );
    let daemon = Daemon::start("relay-park", &config);
    // Server speaks first after an idle spell.
    let mut first = connect(echo_port);
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(read_line(&mut first).unwrap(), "echo");
    thread::sleep(Duration::from_millis(1500));
    first.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut first).unwrap(), "still here");
    // Client speaks after an idle spell, then half-closes.
    let mut second = connect(port);
    second.write_all(b"abc").unwrap();
    thread::sleep(Duration::from_millis(1500));
    second.write_all(b"defg").unwrap();
    thread::sleep(Duration::from_millis(1500));
    second.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        read_line(&mut second).unwrap(),
        "got 7 bytes",
        "log:\n{}",
        daemon.log_text()
    );
    assert_eq!(
        session_lines(&daemon).len(),
        1,
        "the first session is still open"
    );
}

#[test]
fn a_reload_sends_new_sessions_to_the_new_target_and_keeps_open_ones() {
    if !daemon_can_run() {
        return;
    }
    let old = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Named("old".to_string()));
    let new = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Named("new".to_string()));
    let port = free_port();
    let daemon = Daemon::start("relay-reload", &relay_config(port, old.port(), ""));
    let mut open = connect(port);
    assert_eq!(read_line(&mut open).unwrap(), "old");
    daemon.rewrite_config(&relay_config(port, new.port(), ""));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "{}", stdout_text(&out));
    assert_eq!(which_backend(port), "new", "log:\n{}", daemon.log_text());
    // The session opened before the reload still relays.
    open.write_all(b"after reload\n").unwrap();
    assert_eq!(read_line(&mut open).unwrap(), "after reload");
}

#[test]
fn a_disabled_relay_closes_connections_at_once() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let _daemon = Daemon::start(
        "relay-disabled",
        &relay_config(port, backend.port(), "\tdisable\n"),
    );
    let mut stream = connect(port);
    let mut buffer = [0u8; 4];
    let n = stream.read(&mut buffer).unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(backend.accepted(), 0);
}

/// `session P:N CLIENT -> BACKEND\tRUNNING` lines of `show sessions`.
fn session_lines(daemon: &Daemon) -> Vec<String> {
    stdout_text(&daemon.relayctl(&["show", "sessions"]))
        .lines()
        .filter(|l| l.starts_with("session "))
        .map(String::from)
        .collect()
}

#[test]
fn show_sessions_lists_open_sessions_of_every_relay_process() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let config = relay_config(port, backend.port(), "").replace("prefork 1", "prefork 2");
    let daemon = Daemon::start("relay-sessions", &config);
    assert!(session_lines(&daemon).is_empty());
    let mut streams = Vec::new();
    for i in 0..8 {
        let mut stream = connect(port);
        stream.write_all(format!("{i}\n").as_bytes()).unwrap();
        assert_eq!(read_line(&mut stream).unwrap(), i.to_string());
        streams.push(stream);
    }
    let lines = session_lines(&daemon);
    assert_eq!(lines.len(), 8, "{lines:?}");
    let backend_text = format!("-> 127.0.0.1:{}\tRUNNING", backend.port());
    assert!(lines.iter().all(|l| l.contains(&backend_text)), "{lines:?}");
    for stream in &streams {
        let client = stream.local_addr().unwrap().to_string();
        assert!(
            lines.iter().any(|l| l.contains(&format!(" {client} "))),
            "{client}: {lines:?}"
        );
    }
    drop(streams);
    assert!(wait_until(Duration::from_secs(5), || session_lines(
        &daemon
    )
    .is_empty()));
}

#[test]
fn show_relays_counts_the_sessions_per_interval() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let config = format!("interval 1\n{}", relay_config(port, backend.port(), ""));
    let daemon = Daemon::start("relay-stats", &config);
    for _ in 0..3 {
        let mut stream = connect(port);
        assert_eq!(round_trip(&mut stream, b"abc"), b"abc");
    }
    let counted = wait_until(Duration::from_secs(5), || {
        stdout_text(&daemon.relayctl(&["show", "relays"])).contains("total: 3 sessions")
    });
    assert!(
        counted,
        "{}",
        stdout_text(&daemon.relayctl(&["show", "relays"]))
    );
}
