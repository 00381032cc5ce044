//! End-to-end: the bad inputs of issue 16 and relayd's two answers of
//! issue 13, each sent as exact bytes to an `http protocol` relay whose
//! backend records every byte it receives. A head with a bare LF, framing
//! fields that only agree when read as one list, underscore look-alikes
//! of the framing fields, HTTP/1.1 without Host or with an invalid one get
//! 400 and nothing reaches the backend; path rules match the canonical
//! path and the backend gets that path; a chunk size with leading zeros
//! is read by its value; headers over `headerlen` get 413 and an
//! absolute-form target naming another host 400 (an error page with
//! `return error`, otherwise a close). A response head with a bare LF gets
//! 502 (the same two answers) and none of it reaches the client. Needs root; skips otherwise.

use e2e::{
    daemon_can_run, free_port, http_relay_config, Daemon, HttpBackend, HttpClient, TcpBackend,
    TcpBehaviour,
};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a test waits for an answer, or for bytes to reach the backend.
const WAIT: Duration = Duration::from_secs(5);

/// The request each connection sends first, so that the backend
/// connection is open and anything forwarded after it would be recorded.
const GOOD: &[u8] = b"GET /good HTTP/1.1\r\nHost: t\r\n\r\n";

/// A backend that records every byte of every connection and answers
/// each head it sees (a CRLF CRLF not ending a `0` chunk) with an empty
/// `200`.
struct RecordingBackend {
    port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RecordingBackend {
    fn start() -> RecordingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
        let port = listener.local_addr().expect("backend address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        // The listener thread ends with the test process (the test binary
        // exits); the relay is what connects to it.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                let index = {
                    let mut log = lock(&log);
                    log.push(Vec::new());
                    log.len() - 1
                };
                thread::spawn(move || record(stream, &log, index));
            }
        });
        RecordingBackend { port, received }
    }

    /// Everything received so far, one entry per connection.
    fn received(&self) -> Vec<Vec<u8>> {
        lock(&self.received).clone()
    }

    /// All bytes received since `before` (a `received()` taken earlier),
    /// waiting a moment for stragglers.
    fn received_since(&self, before: &[Vec<u8>]) -> Vec<u8> {
        thread::sleep(Duration::from_millis(200));
        let now = self.received();
        let mut new = Vec::new();
        for (index, bytes) in now.iter().enumerate() {
            let seen = before.get(index).map_or(0, Vec::len);
            new.extend_from_slice(&bytes[seen..]);
        }
        new
    }
}

fn record(mut stream: TcpStream, log: &Mutex<Vec<Vec<u8>>>, index: usize) {
    let mut buffer = [0u8; 4096];
    let mut answered = 0;
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let heads = {
            let mut log = lock(log);
            log[index].extend_from_slice(&buffer[..n]);
            heads_in(&log[index])
        };
        while answered < heads {
            answered += 1;
            let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            if stream.write_all(answer).is_err() {
                return;
            }
        }
    }
}

/// How many heads `bytes` holds: the CRLF CRLF that do not end the last
/// chunk of a chunked body (`\n0\r\n\r\n`).
fn heads_in(bytes: &[u8]) -> usize {
    (4..=bytes.len())
        .filter(|&end| &bytes[end - 4..end] == b"\r\n\r\n")
        .filter(|&end| end < 6 || &bytes[end - 6..end - 4] != b"\n0")
        .count()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(label: &str, backend: u16, protocol: &str) -> (Daemon, u16) {
    let port = free_port();
    let daemon = Daemon::start(label, &http_relay_config(port, backend, protocol));
    (daemon, port)
}

fn connect(port: u16) -> HttpClient {
    let client = HttpClient::connect(port);
    client
        .writer
        .set_read_timeout(Some(WAIT))
        .expect("set a read timeout");
    client
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What became of one request sent after [`GOOD`] on a new connection:
/// its answer's status (`None`: closed without one) and the bytes the
/// backend received after the good request.
fn send_after_good(
    port: u16,
    backend: &RecordingBackend,
    request: &[u8],
) -> (Option<u16>, Vec<u8>) {
    let before = backend.received();
    let mut client = connect(port);
    client.send(GOOD);
    let good = client.answer().map(|a| a.status());
    assert_eq!(
        good,
        Some(200),
        "the good request before {:?}",
        text(request)
    );
    client.send(request);
    let status = client.answer().map(|a| a.status());
    if status.is_some_and(|s| s != 200) {
        assert!(
            client.closed(),
            "{:?}: the connection stays open",
            text(request)
        );
    }
    let received = backend.received_since(&before);
    let after = received
        .strip_prefix(GOOD)
        .unwrap_or_else(|| panic!("{:?}: the backend got {:?}", text(request), text(&received)));
    (status, after.to_vec())
}

/// Each of `shapes` gets a 400 and no byte of it reaches the backend.
fn refused_unforwarded(port: u16, backend: &RecordingBackend, daemon: &Daemon, shapes: &[&[u8]]) {
    for shape in shapes {
        let (status, forwarded) = send_after_good(port, backend, shape);
        assert_eq!(
            status,
            Some(400),
            "{:?}\n{}",
            text(shape),
            daemon.log_text()
        );
        assert!(
            forwarded.is_empty(),
            "{:?} reached the backend as {:?}",
            text(shape),
            text(&forwarded)
        );
    }
}

#[test]
fn heads_with_a_bare_lf_get_400_and_are_never_forwarded() {
    if !daemon_can_run() {
        return;
    }
    let backend = RecordingBackend::start();
    // No rules: the head would go out as it came, byte for byte.
    let (daemon, port) = start("http-strict-bare-lf", backend.port, "");
    refused_unforwarded(
        port,
        &backend,
        &daemon,
        &[
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nX: y\nContent-Length: 35\r\n\r\n\
              GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
    );
}

#[test]
fn path_rules_match_the_canonical_path_and_the_backend_gets_it() {
    if !daemon_can_run() {
        return;
    }
    let backend = RecordingBackend::start();
    let protocol = "\treturn error\n\tblock request quick path \"/smuggled*\"";
    let (daemon, port) = start("http-strict-paths", backend.port, protocol);
    for target in [
        "/smuggled",
        "http://x/smuggled",
        "/%73muggled",
        "/./smuggled",
        "/x/../smuggled",
        "//smuggled",
        "/%2e%2e/smuggled",
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        let (status, forwarded) = send_after_good(port, &backend, request.as_bytes());
        assert_eq!(status, Some(403), "{target}\n{}", daemon.log_text());
        assert!(
            forwarded.is_empty(),
            "{target} reached the backend as {:?}",
            text(&forwarded)
        );
    }
    // What passes goes out in the form the rules saw.
    for (target, sent) in [
        ("/a/./b/../%63?q=%2e", "/a/c?q=%2e"),
        ("http://x/ok?q=1", "/ok?q=1"),
        ("//a//b/", "/a/b/"),
        // A `%` that starts no escape cannot make one when `%37` is
        // decoded: the backend never reads `/%73muggled` (`/smuggled`).
        ("/%%373muggled", "/%2573muggled"),
    ] {
        let before = backend.received();
        let mut client = connect(port);
        client.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let status = client.answer().map(|a| a.status());
        assert_eq!(status, Some(200), "{target}\n{}", daemon.log_text());
        let forwarded = backend.received_since(&before);
        let want = format!("GET {sent} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(text(&forwarded), want, "{target}");
    }
}

#[test]
fn framing_fields_are_one_list_and_look_alikes_and_bad_hosts_get_400() {
    if !daemon_can_run() {
        return;
    }
    let backend = RecordingBackend::start();
    let (daemon, port) = start("http-strict-fields", backend.port, "");
    refused_unforwarded(
        port,
        &backend,
        &daemon,
        &[
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
              Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
              Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\nhello",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        ],
    );
    // The same list of codings in one field and in two is read alike.
    for request in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\
          Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let (status, forwarded) = send_after_good(port, &backend, request);
        assert_eq!(
            status,
            Some(200),
            "{:?}\n{}",
            text(request),
            daemon.log_text()
        );
        assert_eq!(text(&forwarded), text(request));
    }
}

#[test]
fn a_chunk_size_with_leading_zeros_is_read_by_its_value() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start("http-strict-chunk-size", backend.port(), "");
    let mut client = connect(port);
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          000000000000000005\r\nhello\r\n0\r\n\r\n",
    );
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body, b"hello");
}

/// A relay with `headerlen 1024`, with or without `return error`.
fn start_answering(label: &str, backend: u16, return_error: bool) -> (Daemon, u16) {
    let errors = if return_error { "\treturn error\n" } else { "" };
    start(
        label,
        backend,
        &format!("{errors}\thttp {{ headerlen 1024 }}"),
    )
}

#[test]
fn relayd_answers_413_for_long_headers_and_400_for_another_host_with_return_error() {
    if !daemon_can_run() {
        return;
    }
    let backend = RecordingBackend::start();
    let (daemon, port) = start_answering("http-strict-answers", backend.port, true);
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(2000)
    );
    for (request, want) in [
        (long.into_bytes(), 413),
        (
            b"GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET http://x:81/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
    ] {
        let before = backend.received();
        let mut client = connect(port);
        client.send(GOOD);
        assert_eq!(client.answer().map(|a| a.status()), Some(200));
        client.send(&request);
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("{want}: no answer\n{}", daemon.log_text()));
        assert_eq!(answer.status(), want);
        assert!(
            answer.text().contains("relayd"),
            "an error page: {}",
            answer.text()
        );
        assert!(client.closed());
        assert_eq!(text(&backend.received_since(&before)), text(GOOD));
    }
    // An absolute-form target naming the Host goes through.
    let (status, forwarded) = send_after_good(
        port,
        &backend,
        b"GET http://X/same HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status, Some(200));
    assert!(text(&forwarded).starts_with("GET http://X/same HTTP/1.1\r\n"));
}

#[test]
fn without_return_error_long_headers_and_another_host_close_unanswered() {
    if !daemon_can_run() {
        return;
    }
    let backend = RecordingBackend::start();
    let (daemon, port) = start_answering("http-strict-closes", backend.port, false);
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(2000)
    );
    for request in [
        long.into_bytes(),
        b"GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    ] {
        let before = backend.received();
        let mut client = connect(port);
        client.send(GOOD);
        assert_eq!(client.answer().map(|a| a.status()), Some(200));
        client.send(&request);
        let mut rest = Vec::new();
        match client.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("not closed: {e}\n{}", daemon.log_text()),
        }
        assert!(rest.is_empty(), "an answer came: {:?}", text(&rest));
        assert_eq!(text(&backend.received_since(&before)), text(GOOD));
    }
}

/// A backend answering each request with `answer`, byte for byte.
fn answering_backend(answer: &[u8]) -> TcpBackend {
    let behaviour = TcpBehaviour::Reply {
        until: b"\r\n\r\n".to_vec(),
        answer: answer.to_vec(),
    };
    TcpBackend::start("127.0.0.1:0", behaviour)
}

/// What a client of a relay (with `protocol`) to a backend answering
/// `answer` reads after [`GOOD`]: every byte until the relay closes.
fn read_through(label: &str, protocol: &str, answer: &[u8]) -> (Vec<u8>, Daemon) {
    let backend = answering_backend(answer);
    let (daemon, port) = start(label, backend.port(), protocol);
    let mut client = connect(port);
    client.send(GOOD);
    let mut got = Vec::new();
    let _ = client.reader.read_to_end(&mut got);
    assert!(
        backend.accepted() >= 1,
        "the relay never reached the backend"
    );
    (got, daemon)
}

#[test]
fn response_heads_with_a_bare_lf_get_502_and_are_never_forwarded() {
    if !daemon_can_run() {
        return;
    }
    // The same answer with CRLF everywhere gets through: the relay and
    // the backend do talk.
    let good: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let (got, daemon) = read_through("http-strict-lf-response-good", "", good);
    assert!(
        got.ends_with(b"\r\n\r\nhello"),
        "{:?}\n{}",
        text(&got),
        daemon.log_text()
    );
    let shapes: [&[u8]; 4] = [
        b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
        // A client ending lines only at CRLF reads `X: y\nContent-Length:
        // 5` as one field and the body as ending at close.
        b"HTTP/1.1 200 OK\r\nX: y\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n\
          HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
    ];
    for (i, answer) in shapes.iter().enumerate() {
        // With `return error` the client gets relayd's 502 page...
        let label = format!("http-strict-lf-response-{i}");
        let (got, daemon) = read_through(&label, "\treturn error", answer);
        let got = text(&got);
        assert!(
            got.starts_with("HTTP/1.0 502 Bad Gateway\r\n"),
            "{:?}: the client read {got:?}\n{}",
            text(answer),
            daemon.log_text()
        );
        assert!(
            !got.contains("hello") && !got.contains("smuggled") && !got.contains("X: y"),
            "{:?} reached the client: {got:?}",
            text(answer)
        );
        // ...and without it, a close: nothing of the answer either way.
        let label = format!("http-strict-lf-response-{i}-close");
        let (got, daemon) = read_through(&label, "", answer);
        assert!(
            got.is_empty(),
            "{:?}: the client read {:?}\n{}",
            text(answer),
            text(&got),
            daemon.log_text()
        );
    }
}
