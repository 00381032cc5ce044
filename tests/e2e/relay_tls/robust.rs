//! Bad input on TLS relays: each gets a clear end and costs no other
//! session, no process: bytes that are not a ClientHello, a client that
//! stops mid-handshake (bounded by the session timeout), a huge
//! ClientHello, backends that present an expired certificate or close
//! during the handshake.

use e2e::{
    connect, curl_https, daemon_can_run, free_port, or_skip, output_text, process_alive, s_client,
    tools_installed, wait_until, Daemon, SslDir, TcpBackend, TcpBehaviour, TlsRelay, TlsServer,
};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn tools() -> bool {
    daemon_can_run() && tools_installed(&["openssl", "curl", "python3"])
}

/// Whether the relay closes `stream` (end of file or reset) within 20 s,
/// whatever it sent before.
fn closed_by_relay(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn garbage_stalled_and_huge_client_hellos_end_alone() {
    if !tools() {
        return;
    }
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::pong());
    let mut relay = TlsRelay::start("tls-robust", "tcp", backend.port(), &["session timeout 3"]);
    let (port, ca) = (relay.port, relay.ca.clone());
    let daemon = &mut relay.daemon;
    let children = daemon.children();
    let works = || output_text(&s_client(port, "www.test", &ca, b"ping\n").stdout).contains("pong");

    // A client that stops after connecting: bounded by the session
    // timeout, and meanwhile other handshakes go through.
    let mut stalled = connect(port);
    let mut half = connect(port);
    half.write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x7c])
        .expect("half a ClientHello");
    assert!(
        works(),
        "a stalled handshake held others:\n{}",
        daemon.log_text()
    );
    assert!(
        closed_by_relay(&mut stalled),
        "a silent client was never closed"
    );
    assert!(
        closed_by_relay(&mut half),
        "half a ClientHello was never closed"
    );

    // Not TLS at all.
    let mut plain = connect(port);
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: www.test\r\n\r\n")
        .expect("write");
    assert!(
        closed_by_relay(&mut plain),
        "plain HTTP on a TLS listener stayed open"
    );

    // A ClientHello claiming 16 MiB, sent in records until the relay
    // closes (at most 4 MiB).
    let mut huge = connect(port);
    let mut record = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff];
    record.resize(5 + 0x4000, 0x41);
    let mut sent = 0;
    while sent < 4 << 20 && huge.write_all(&record).is_ok() {
        record.truncate(5);
        record.resize(5 + 0x4000, 0x42);
        sent += record.len();
    }
    assert!(
        closed_by_relay(&mut huge),
        "a huge ClientHello was never refused"
    );

    assert!(works(), "the relay stopped serving:\n{}", daemon.log_text());
    assert!(
        children.iter().all(|pid| process_alive(*pid)),
        "a process died"
    );
    assert_eq!(daemon.children(), children);
    assert_eq!(
        backend.accepted(),
        2,
        "only the good handshakes reached the backend"
    );
    let log = daemon.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn backends_with_an_expired_certificate_or_closing_mid_handshake_get_no_session() {
    if !tools() {
        return;
    }
    let ssl = SslDir::new("tls-bad-backends");
    let good = ssl.ca("good");
    ssl.expired("stale", "good", &["backend.test"]);
    let Some(expired) = or_skip(TlsServer::start_with(
        &ssl.certificate("stale"),
        &ssl.key("stale"),
    )) else {
        return;
    };
    expired.serve_file("hello.txt", "should not be seen\n");
    let closing = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    ssl.signed("www", "good", &["www.test"]);
    let (stale_port, closing_port) = (free_port(), free_port());
    let protocol = format!(
        "http protocol p {{\n tls keypair www\n tls ca file \"{}\"\n return error\n}}\n",
        good.display()
    );
    let config = format!(
        "prefork 1\n{protocol}\
         relay stale {{\n listen on 127.0.0.1 port {stale_port} tls\n protocol p\n \
         forward with tls to 127.0.0.1 port {}\n}}\n\
         relay closing {{\n listen on 127.0.0.1 port {closing_port} tls\n protocol p\n \
         forward with tls to 127.0.0.1 port {}\n}}\n",
        expired.port,
        closing.port()
    );
    let mut daemon = Daemon::start_with_ssl("tls-bad-backends", &config, &ssl);
    let children = daemon.children();
    for (relay, port) in [("stale", stale_port), ("closing", closing_port)] {
        let out = curl_https("www.test", port, &good, &["-i"], &["/hello.txt"]);
        let answer = output_text(&out.stdout);
        assert!(!answer.contains("should not be seen"), "{relay}: {answer}");
        assert!(
            answer.starts_with("HTTP/1.0 502"),
            "{relay}: an error page: {answer}\n{}",
            output_text(&out.stderr)
        );
        let logged = wait_until(Duration::from_secs(5), || {
            daemon.log_text().lines().any(|l| {
                l.contains(&format!("relay {relay},")) && l.contains("TLS handshake failed")
            })
        });
        assert!(logged, "{relay}: not logged:\n{}", daemon.log_text());
    }
    assert!(
        daemon.log_text().contains("expired") || daemon.log_text().contains("Expired"),
        "the expiry is named:\n{}",
        daemon.log_text()
    );
    assert!(children.iter().all(|pid| process_alive(*pid)));
    assert_eq!(daemon.children(), children);
}
