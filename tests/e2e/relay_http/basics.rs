//! End-to-end: `http protocol` relays through hyper to a real HTTP/1.1
//! backend on 127.0.0.1: keep-alive on one backend connection, header
//! case kept both ways, chunked and content-length bodies with identical
//! checksums, `Connection: close` from either side, `headerlen`,
//! smuggling shapes refused before anything is forwarded, Upgrade refused
//! or relayed with `http websockets`. Needs root; skips otherwise.

use e2e::{
    daemon_can_run, free_port, http_relay_config, pattern, stdout_text, Daemon, HttpBackend,
    HttpClient,
};
use std::io::{Read, Write};
use std::time::Duration;

fn start(label: &str, protocol: &str) -> (Daemon, HttpBackend, u16) {
    let backend = HttpBackend::start("one");
    let port = free_port();
    let daemon = Daemon::start(label, &http_relay_config(port, backend.port(), protocol));
    (daemon, backend, port)
}

#[test]
fn keep_alive_carries_many_requests_on_one_backend_connection_with_header_case_kept() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, backend, port) = start("http-keepalive", "");
    let mut client = HttpClient::connect(port);
    for number in 1..=3 {
        client.send(
            format!("GET /n{number} HTTP/1.1\r\nHost: test\r\nX-MiXed-CaSe: {number}\r\n\r\n")
                .as_bytes(),
        );
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("{}", daemon.log_text()));
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.header("X-Connection").as_deref(), Some("1"));
        assert_eq!(answer.header("X-Request"), Some(number.to_string()));
        assert!(
            answer
                .head
                .headers
                .iter()
                .any(|l| l.starts_with("X-Backend: ")),
            "response header case kept: {:?}",
            answer.head.headers
        );
        assert!(
            answer.text().contains(&format!("X-MiXed-CaSe: {number}")),
            "request header case kept: {}",
            answer.text()
        );
    }
    // A second client gets its own backend connection.
    let mut other = HttpClient::connect(port);
    assert_eq!(other.get("/").header("X-Connection").as_deref(), Some("2"));
    assert_eq!(backend.accepted(), 2);
}

#[test]
fn chunked_and_sized_bodies_stream_both_ways_unchanged() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, _backend, port) = start("http-bodies", "");
    let mut client = HttpClient::connect(port);
    let upload = pattern(3 << 20, 11);
    client.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in upload.chunks(70_001) {
        client.send(format!("{:x}\r\n", piece.len()).as_bytes());
        client.send(piece);
        client.send(b"\r\n");
    }
    client.send(b"0\r\n\r\n");
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("{}", daemon.log_text()));
    assert_eq!(answer.status(), 200);
    assert!(answer.body == upload, "chunked upload came back changed");

    let sized = pattern(1 << 20, 12);
    client.send(
        format!(
            "PUT /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
            sized.len()
        )
        .as_bytes(),
    );
    client.send(&sized);
    let answer = client.answer().expect("answer to the sized upload");
    assert_eq!(
        answer.header("Content-Length"),
        Some(sized.len().to_string())
    );
    assert!(answer.body == sized, "sized upload came back changed");

    let answer = client.get("/download/5000000");
    assert!(
        answer.body == pattern(5_000_000, 3),
        "chunked download changed"
    );
    assert_eq!(answer.header("X-Request").as_deref(), Some("3"));
}

#[test]
fn connection_close_from_either_side_ends_the_session() {
    if !daemon_can_run() {
        return;
    }
    let (_daemon, _backend, port) = start("http-close", "");
    let mut client = HttpClient::connect(port);
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    assert_eq!(client.answer().expect("answer").status(), 200);
    assert!(client.closed(), "client asked to close");

    let mut client = HttpClient::connect(port);
    let answer = client.get("/close");
    assert_eq!(answer.status(), 200);
    assert!(client.closed(), "the backend closed its connection");
}

#[test]
fn headers_longer_than_headerlen_get_413_and_are_not_forwarded() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\treturn error\n\thttp { headerlen 1024 }";
    let (_daemon, backend, port) = start("http-headerlen", protocol);
    let mut client = HttpClient::connect(port);
    assert_eq!(client.get("/small").status(), 200);
    let long = "a".repeat(2000);
    client.send(format!("GET /big HTTP/1.1\r\nHost: test\r\nX-Long: {long}\r\n\r\n").as_bytes());
    assert_eq!(client.answer().expect("an answer").status(), 413);
    // Beyond the relay's read buffer too.
    let mut client = HttpClient::connect(port);
    let huge = "b".repeat(200_000);
    client.send(format!("GET /huge HTTP/1.1\r\nHost: test\r\nX-Long: {huge}\r\n\r\n").as_bytes());
    assert_eq!(client.answer().expect("an answer").status(), 413);
    let paths = backend.request_lines();
    assert_eq!(paths, ["GET /small HTTP/1.1"]);
}

#[test]
fn smuggling_shapes_are_refused_with_400_and_never_forwarded() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, backend, port) = start("http-smuggling", "");
    let shapes: [&[u8]; 4] = [
        b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"GET /c HTTP/1.1\r\nHost: t\r\nX-Folded: one\r\n two\r\n\r\n",
        b"POST /d HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"GET /e HTTP/1.1\rHost: t\r\n\r\n",
    ];
    for shape in shapes {
        let mut client = HttpClient::connect(port);
        client.send(shape);
        let status = client.answer().map(|a| a.status());
        // A bad chunk size is only seen once the request was forwarded;
        // the session must end then, never answered with success.
        assert!(
            matches!(status, Some(400) | None),
            "{:?} got {status:?}\n{}",
            String::from_utf8_lossy(shape),
            daemon.log_text()
        );
    }
    let forwarded: Vec<String> = backend
        .seen()
        .iter()
        .filter(|s| !s.head.start.starts_with("POST /d "))
        .map(|s| s.head.start.clone())
        .collect();
    assert!(forwarded.is_empty(), "forwarded: {forwarded:?}");
}

/// Content-Length beside Transfer-Encoding is the classic smuggling
/// shape: the relay and the backend could disagree on where the body ends
/// and read a second request out of it. It is answered 400, nothing is
/// forwarded, and the connection closes.
#[test]
fn content_length_beside_chunked_gets_400_and_nothing_is_forwarded() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, backend, port) = start("http-cl-te", "");
    for request in [
        &b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\
           Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
           GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
          Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ] {
        let mut client = HttpClient::connect(port);
        client.send(request);
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("{}", daemon.log_text()));
        assert_eq!(answer.status(), 400);
        assert!(client.closed(), "the connection closes after the answer");
    }
    assert!(backend.seen().is_empty(), "{:?}", backend.seen());
}

#[test]
fn upgrade_is_refused_without_websockets() {
    if !daemon_can_run() {
        return;
    }
    let upgrade =
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let (_daemon, backend, port) = start("http-noupgrade", "");
    let mut client = HttpClient::connect(port);
    client.send(upgrade);
    assert!(client.answer().is_none(), "closed without an answer");

    let backend_two = HttpBackend::start("two");
    let port_two = free_port();
    let _daemon_two = Daemon::start(
        "http-noupgrade-page",
        &http_relay_config(port_two, backend_two.port(), "\treturn error"),
    );
    let mut client = HttpClient::connect(port_two);
    client.send(upgrade);
    let answer = client.answer().expect("an error page");
    assert_eq!(answer.status(), 403);
    assert!(
        answer.text().contains("Websocket Forbidden"),
        "{}",
        answer.text()
    );
    assert!(backend.seen().is_empty() && backend_two.seen().is_empty());
}

#[test]
fn websockets_relay_the_upgraded_stream_both_ways() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, _backend, port) = start("http-websockets", "\thttp websockets");
    let mut client = HttpClient::connect(port);
    client
        .send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("{}", daemon.log_text()));
    assert_eq!(answer.status(), 101);
    let data = pattern(300_000, 5);
    let mut writer = client.writer.try_clone().unwrap();
    let sent = data.clone();
    let sender = std::thread::spawn(move || writer.write_all(&sent));
    let mut back = vec![0; data.len()];
    client
        .reader
        .read_exact(&mut back)
        .expect("echoed raw bytes");
    sender.join().unwrap().unwrap();
    assert!(back == data, "raw stream changed");
}

#[test]
fn an_unreachable_backend_gets_a_504_page_with_return_error() {
    if !daemon_can_run() {
        return;
    }
    let (port, nobody) = (free_port(), free_port());
    let daemon = Daemon::start(
        "http-unreachable",
        &http_relay_config(port, nobody, "\treturn error"),
    );
    let mut client = HttpClient::connect(port);
    // As relayd, the backend is chosen once the request has been read.
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let page = client
        .answer()
        .unwrap_or_else(|| panic!("no page\n{}", daemon.log_text()));
    assert_eq!(page.status(), 504);
    assert_eq!(page.header("Server").as_deref(), Some("relayd"));
    assert!(page.text().contains("connect failed"), "{}", page.text());
}

/// An HTTP listener defers accepting (TCP_DEFER_ACCEPT): a client that
/// has connected but sent nothing is not a session yet, and becomes one,
/// and is answered, when its request comes.
#[test]
fn a_client_is_accepted_when_its_request_arrives() {
    if !daemon_can_run() {
        return;
    }
    let (daemon, _backend, port) = start("http-defer", "");
    let sessions = || stdout_text(&daemon.relayctl(&["show", "sessions"]));
    let mut client = HttpClient::connect(port);
    // Long enough for an accept that is not deferred, well within the
    // second after which the kernel hands over a silent client.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sessions(), "", "a silent client is not accepted yet");
    assert_eq!(client.get("/").status(), 200, "{}", daemon.log_text());
    assert!(
        sessions().contains("RUNNING"),
        "the answered client is a session: {}",
        sessions()
    );
}

/// A keep-alive session idle for more than half a second is parked (its
/// task ends, its sockets wait in the parking lot) and comes back on the
/// next request with its backend connection and its tag. A backend that
/// closes its idle connection, parked or not, costs the client nothing:
/// the next request gets a new backend connection.
#[test]
fn idle_sessions_park_keep_their_tag_and_outlive_a_backend_closing_its_idle_connection() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\treturn error\n\
                    \tmatch request header \"X-Admin\" tag \"admin\"\n\
                    \tblock request tagged \"admin\" path \"/admin*\"";
    let (daemon, backend, port) = start("http-park", protocol);
    let mut client = HttpClient::connect(port);
    client.send(b"GET /x HTTP/1.1\r\nHost: t\r\nX-Admin: 1\r\n\r\n");
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("{}", daemon.log_text()));
    assert_eq!(answer.header("X-Connection").as_deref(), Some("1"));

    std::thread::sleep(Duration::from_millis(1200));
    let answer = client.get("/after-parking");
    assert_eq!(answer.status(), 200, "{}", daemon.log_text());
    assert_eq!(answer.header("X-Connection").as_deref(), Some("1"));
    assert_eq!(
        client.get("/admin").status(),
        403,
        "the tag survived parking"
    );

    let mut client = HttpClient::connect(port);
    assert_eq!(
        client.get("/one").header("X-Connection").as_deref(),
        Some("2")
    );
    std::thread::sleep(Duration::from_millis(1200));
    backend.drop_connections();
    std::thread::sleep(Duration::from_millis(300));
    let answer = client.get("/two");
    assert_eq!(answer.status(), 200, "{}", daemon.log_text());
    assert_eq!(answer.header("X-Connection").as_deref(), Some("3"));

    backend.drop_connections();
    std::thread::sleep(Duration::from_millis(100));
    let answer = client.get("/three");
    assert_eq!(answer.status(), 200, "{}", daemon.log_text());
    assert_eq!(answer.header("X-Connection").as_deref(), Some("4"));
}
