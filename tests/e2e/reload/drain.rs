//! End-to-end: graceful stop. `relayctl drain [SECONDS]` and SIGUSR2 make
//! relayd accept nothing more and exit once its open sessions end, or when
//! the bound passes; a reload is refused meanwhile; SIGTERM stays
//! immediate.

use e2e::{
    daemon_can_run, free_port, read_line, send_signal, stdout_text, wait_until, Daemon, TcpBackend,
    TcpBehaviour,
};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn echo_relay(port: u16, backend: u16) -> String {
    format!(
        "prefork 2\n\
         relay r {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to 127.0.0.1 port {backend}\n\
         }}\n"
    )
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn echoes(session: &mut TcpStream, line: &str) -> bool {
    session.write_all(format!("{line}\n").as_bytes()).is_ok()
        && read_line(session).is_ok_and(|back| back == line)
}

#[test]
fn drain_lets_open_sessions_finish_then_exits() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let mut daemon = Daemon::start("drain", &echo_relay(port, backend.port()));
    let mut session = e2e::connect(port);
    assert!(echoes(&mut session, "before"));

    let out = daemon.relayctl(&["drain", "120"]);
    assert!(out.status.success(), "drain: {}", stdout_text(&out));
    assert!(
        wait_until(Duration::from_secs(10), || refused(port)),
        "new connections are still accepted while draining"
    );
    assert!(echoes(&mut session, "during"), "the open session goes on");
    let out = daemon.relayctl(&["reload"]);
    assert!(!out.status.success(), "a reload while draining is refused");
    assert!(
        stdout_text(&out).contains("draining"),
        "{}",
        stdout_text(&out)
    );
    assert!(daemon.wait_exit(Duration::from_millis(300)).is_none());

    drop(session);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)),
        Some(0),
        "relayd exits once the last session ended:\n{}",
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("drained: every session ended"));
}

#[test]
fn a_drain_ends_at_its_bound_closing_what_is_still_open() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let mut daemon = Daemon::start("drain-bound", &echo_relay(port, backend.port()));
    let mut session = e2e::connect(port);
    assert!(echoes(&mut session, "open"));
    assert!(daemon.relayctl(&["drain", "1"]).status.success());
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("sessions still open after 1s"),
        "{}",
        daemon.log_text()
    );
    let mut rest = Vec::new();
    match session.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the session is still open after relayd exited"
        ),
    }
}

#[test]
fn sigusr2_drains_and_sigterm_stays_immediate() {
    if !daemon_can_run() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let mut idle = Daemon::start("drain-usr2", &echo_relay(port, backend.port()));
    send_signal(idle.pid, "USR2");
    assert_eq!(
        idle.wait_exit(Duration::from_secs(20)),
        Some(0),
        "without sessions SIGUSR2 exits at once:\n{}",
        idle.log_text()
    );
    assert!(idle.log_text().contains("drain requested with SIGUSR2"));

    let port = free_port();
    let mut busy = Daemon::start("drain-term", &echo_relay(port, backend.port()));
    let mut session = e2e::connect(port);
    assert!(echoes(&mut session, "open"));
    assert!(busy.relayctl(&["drain", "600"]).status.success());
    send_signal(busy.pid, "TERM");
    assert_eq!(
        busy.wait_exit(Duration::from_secs(20)),
        Some(0),
        "SIGTERM during a drain stops at once:\n{}",
        busy.log_text()
    );
}
