//! End-to-end robustness of `http protocol` relays: slow clients are cut
//! off by the session timeout and never slow down a normal client, a
//! backend dying mid-response ends only its own session, and absurd
//! header counts are refused before anything is forwarded. Needs root;
//! skips otherwise.

use e2e::{daemon_can_run, free_port, http_relay_config, Daemon, HttpBackend, HttpClient};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `http_config` with `session timeout SECS` in the relay block.
fn config_with_timeout(port: u16, backend: u16, secs: u32) -> String {
    http_relay_config(port, backend, "").replace(
        "\tprotocol p\n",
        &format!("\tprotocol p\n\tsession timeout {secs}\n"),
    )
}

/// Seconds until the relay closes `stream`, which sends nothing more.
fn seconds_until_closed(mut stream: TcpStream) -> f64 {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buffer = [0; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return started.elapsed().as_secs_f64(),
            Ok(_) => continue,
        }
    }
}

#[test]
fn slow_and_idle_clients_are_closed_after_the_session_timeout() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let port = free_port();
    let daemon = Daemon::start(
        "http-slowloris",
        &config_with_timeout(port, backend.port(), 2),
    );
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    let waited = seconds_until_closed(slow);
    assert!(
        waited < 6.0,
        "slow header held {waited:.1}s\n{}",
        daemon.log_text()
    );

    let mut idle = HttpClient::connect(port);
    assert_eq!(idle.get("/").status(), 200);
    let waited = seconds_until_closed(idle.writer);
    assert!(waited < 6.0, "idle keep-alive held {waited:.1}s");
    assert!(
        backend.seen().len() == 1,
        "the slow request was never forwarded"
    );
}

#[test]
fn a_thousand_slow_clients_do_not_slow_down_a_normal_one() {
    if !daemon_can_run() {
        return;
    }
    raise_descriptor_limit(4096);
    let backend = HttpBackend::start("one");
    let port = free_port();
    // relayd's default backlog of 10 would drop the burst's SYNs.
    let config = config_with_timeout(port, backend.port(), 60).replace(
        "http protocol p {\n",
        "http protocol p {\n\ttcp { backlog 512 }\n",
    );
    let daemon = Daemon::start("http-slow-many", &config);
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("slow client connects");
        stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let mut client = HttpClient::connect(port);
    for _ in 0..20 {
        assert_eq!(client.get("/").status(), 200, "{}", daemon.log_text());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "20 requests took {took:?}");
    drop(slow);
}

#[test]
fn a_backend_dying_mid_response_ends_only_its_session() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let port = free_port();
    let daemon = Daemon::start(
        "http-backend-dies",
        &http_relay_config(port, backend.port(), ""),
    );
    let mut bystander = HttpClient::connect(port);
    assert_eq!(bystander.get("/").status(), 200);
    let mut victim = HttpClient::connect(port);
    victim.send(b"GET /die HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        victim.answer().is_none(),
        "a truncated body is not a whole answer"
    );
    assert!(victim.closed());
    assert_eq!(bystander.get("/").status(), 200, "{}", daemon.log_text());
    assert_eq!(HttpClient::connect(port).get("/").status(), 200);
}

#[test]
fn absurd_header_counts_are_refused_and_never_forwarded() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let port = free_port();
    let _daemon = Daemon::start(
        "http-header-count",
        &http_relay_config(port, backend.port(), "\thttp { headerlen 131072 }"),
    );
    let mut request = String::from("GET /many HTTP/1.1\r\nHost: t\r\n");
    for n in 0..500 {
        request.push_str(&format!("X-H{n}: v\r\n"));
    }
    request.push_str("\r\n");
    let mut client = HttpClient::connect(port);
    client.send(request.as_bytes());
    let status = client.answer().map(|a| a.status());
    assert!(matches!(status, Some(400 | 431)), "got {status:?}");
    assert!(backend.seen().is_empty());
}

fn raise_descriptor_limit(want: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let target = want.min(hard).max(soft);
        let _ = setrlimit(Resource::RLIMIT_NOFILE, target, hard);
    }
}

/// A client that asks for a large answer and never reads it cannot hold
/// its session: once the sockets are full, the relay waits at most the
/// session timeout for it to read, then ends the session.
#[test]
fn a_client_that_stops_reading_is_closed_after_the_session_timeout() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let port = free_port();
    let config = format!(
        "log connection\n{}",
        config_with_timeout(port, backend.port(), 2)
    );
    let daemon = Daemon::start("http-stops-reading", &config);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A small fixed receive buffer (no autotuning) and an answer larger
    // than every buffer between backend and client together, so the relay
    // must find the client not reading whatever the kernel's tcp_rmem.
    nix::sys::socket::setsockopt(&client, nix::sys::socket::sockopt::RcvBuf, &4096).unwrap();
    client
        .write_all(b"GET /download/40000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // The backend makes the whole body before it answers (seconds in a
    // debug build on a loaded machine, longer than the session timeout):
    // wait for the answer to start, then stop reading.
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut first = [0u8; 1];
    assert_eq!(client.read(&mut first).unwrap(), 1, "{}", daemon.log_text());
    let ended = e2e::wait_until(Duration::from_secs(15), || {
        daemon.log_text().contains("peer stopped reading")
    });
    assert!(ended, "{}", daemon.log_text());
}
