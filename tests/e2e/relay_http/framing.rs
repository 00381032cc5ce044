//! End-to-end message framing of `http protocol` relays: interim
//! `100 Continue` answers, answers that come before the request body is
//! complete, pipelined requests, answers that have no body (HEAD, 204,
//! 304), bodies that end when the backend closes, HTTP/1.0 clients, and
//! more request smuggling shapes that must be refused with 400 and never
//! reach the backend. Needs root; skips otherwise.
//!
//! Most tests talk to a scripted backend below (each path asks for one
//! behaviour the shared `HttpBackend` does not have); the rest reuse the
//! shared one.

use e2e::{
    daemon_can_run, free_port, http_relay_config, pattern, read_framed_body, read_head, Daemon,
    HttpBackend, HttpClient, HttpMessage,
};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for any one answer before calling it lost.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// Size of the body an "until close" answer carries.
const UNTIL_CLOSE_SIZE: usize = 200_000;

/// Reads the next response; `bodiless` for an answer to HEAD, 1xx, 204
/// and 304, whose Content-Length announces nothing to read. A response
/// without framing reads until the connection closes.
fn read_response(reader: &mut impl BufRead, bodiless: bool) -> io::Result<HttpMessage> {
    let head = read_head(reader)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "closed before an answer"))?;
    let body = if bodiless {
        Vec::new()
    } else if head.chunked() || head.content_length().is_some() {
        read_framed_body(reader, &head)?
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body)?;
        body
    };
    Ok(HttpMessage { head, body })
}

/// Whether the peer closes the connection within `ANSWER_WAIT` (end of
/// stream or a reset), sending nothing more.
fn closes(client: &mut HttpClient) -> Result<(), String> {
    client
        .writer
        .set_read_timeout(Some(ANSWER_WAIT))
        .expect("set a read timeout");
    let mut byte = [0; 1];
    match client.reader.read(&mut byte) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
        Ok(_) => Err(format!("more bytes came: {:?}", byte[0] as char)),
        Err(e) => Err(format!("still open after {ANSWER_WAIT:?}: {e}")),
    }
}

/// A client that waits `ANSWER_WAIT` for each read.
fn connect_waiting(port: u16) -> HttpClient {
    let client = HttpClient::connect(port);
    client
        .writer
        .set_read_timeout(Some(ANSWER_WAIT))
        .expect("set a read timeout");
    client
}

/// A backend whose paths script its behaviour:
/// - `Expect: 100-continue` gets `100 Continue` before the body is read;
/// - HEAD gets `200` announcing `Content-Length: 1234`, no body;
/// - `/204` and `/304` (the latter with a Content-Length) have no body;
/// - `/until-close` answers without length and closes after the body;
/// - `/early-413` answers `413` + `Connection: close` as soon as the
///   head is in, then reads and discards the body until the end;
/// - `/early-200` does the same with a keep-alive `200`;
/// - `/early-stall` answers `413` and then stops reading altogether;
/// - `/early-close` answers `413` and closes its side at once;
/// - anything else gets `200` with the request body (or the path) back.
///
/// Every answer carries `X-Request` (its number on the connection) and
/// `X-Connection` (which accepted connection).
struct ScriptedBackend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// "METHOD PATH BODY-LENGTH" of each request (early ones at their head).
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ScriptedBackend {
    fn start() -> ScriptedBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
        let addr = listener.local_addr().expect("backend address");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            thread::spawn(move || {
                let mut accepted = 0;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    accepted += 1;
                    let (stop, seen) = (stop.clone(), seen.clone());
                    thread::spawn(move || {
                        let _ = serve_scripted(stream, accepted, &seen, &stop);
                    });
                }
            })
        };
        ScriptedBackend {
            addr,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ScriptedBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_scripted(
    stream: TcpStream,
    connection: u32,
    seen: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut number = 0;
    while let Some(head) = read_head(&mut reader)? {
        number += 1;
        let mut words = head.start.split(' ');
        let method = words.next().unwrap_or("").to_string();
        let path = words.next().unwrap_or("/").to_string();
        let ids = format!("X-Connection: {connection}\r\nX-Request: {number}\r\n");
        let record = |body: usize| seen.lock().unwrap().push(format!("{method} {path} {body}"));

        if let Some(early) = path.strip_prefix("/early-") {
            record(0);
            let answer = match early {
                "200" => format!("HTTP/1.1 200 OK\r\n{ids}Content-Length: 5\r\n\r\nearly"),
                _ => format!(
                    "HTTP/1.1 413 Payload Too Large\r\n{ids}Connection: close\r\n\
                     Content-Length: 8\r\n\r\ntoo big!"
                ),
            };
            writer.write_all(answer.as_bytes())?;
            writer.flush()?;
            if early == "close" {
                // As a careful server closes: its FIN first, then what is
                // still coming is read and dropped for a moment, so that its
                // kernel does not answer the body with a reset (which would
                // destroy the answer before the relay reads it).
                writer.shutdown(std::net::Shutdown::Write)?;
                reader
                    .get_ref()
                    .set_read_timeout(Some(Duration::from_millis(500)))?;
                let _ = io::copy(&mut reader, &mut io::sink());
                return Ok(());
            }
            if early == "stall" {
                let until = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    thread::sleep(Duration::from_millis(50));
                }
            } else {
                let _ = io::copy(&mut reader, &mut io::sink());
            }
            return Ok(());
        }

        let continues = head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if continues {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        let body = read_framed_body(&mut reader, &head)?;
        record(body.len());

        if method == "HEAD" {
            write!(
                writer,
                "HTTP/1.1 200 OK\r\n{ids}Content-Length: 1234\r\n\r\n"
            )?;
        } else if path == "/204" {
            write!(writer, "HTTP/1.1 204 No Content\r\n{ids}\r\n")?;
        } else if path == "/304" {
            write!(
                writer,
                "HTTP/1.1 304 Not Modified\r\n{ids}ETag: \"v1\"\r\nContent-Length: 1234\r\n\r\n"
            )?;
        } else if path == "/until-close" {
            write!(writer, "HTTP/1.1 200 OK\r\n{ids}\r\n")?;
            writer.write_all(&pattern(UNTIL_CLOSE_SIZE, 7))?;
            writer.flush()?;
            return Ok(());
        } else {
            let content = if body.is_empty() {
                path.into_bytes()
            } else {
                body
            };
            write!(
                writer,
                "HTTP/1.1 200 OK\r\n{ids}Content-Length: {}\r\n\r\n",
                content.len()
            )?;
            writer.write_all(&content)?;
        }
        writer.flush()?;
    }
    Ok(())
}

/// A relay with an empty `http protocol` in front of `backend`.
fn start_relay(label: &str, backend: u16) -> (Daemon, u16) {
    let port = free_port();
    let daemon = Daemon::start(label, &http_relay_config(port, backend, ""));
    (daemon, port)
}

#[test]
fn expect_100_continue_is_relayed_before_the_body() {
    if !daemon_can_run() {
        return;
    }
    let backend = ScriptedBackend::start();
    let (daemon, port) = start_relay("http-continue", backend.port());
    let mut client = connect_waiting(port);
    client.send(
        b"POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    let interim = read_response(&mut client.reader, true)
        .unwrap_or_else(|e| panic!("no 100 Continue: {e}\n{}", daemon.log_text()));
    assert_eq!(interim.head.status(), 100, "{:?}", interim.head);
    assert!(
        backend.seen().is_empty(),
        "the backend has no body yet: {:?}",
        backend.seen()
    );

    client.send(b"hello world");
    let answer = read_response(&mut client.reader, false).expect("the final answer");
    assert_eq!(answer.head.status(), 200, "{:?}", answer.head);
    assert_eq!(answer.body, b"hello world");
    assert_eq!(backend.seen(), ["POST /upload 11"]);

    // The session goes on after an interim answer.
    client.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    let next = read_response(&mut client.reader, false).expect("a second answer");
    assert_eq!(next.body, b"/next");
    assert_eq!(next.head.header("X-Request").as_deref(), Some("2"));
}

#[test]
fn an_early_answer_reaches_the_client_and_the_connection_closes() {
    if !daemon_can_run() {
        return;
    }
    let backend = ScriptedBackend::start();
    let (daemon, port) = start_relay("http-early", backend.port());
    for (path, status, body) in [
        ("/early-413", 413, &b"too big!"[..]),
        ("/early-200", 200, b"early"),
    ] {
        let mut client = connect_waiting(port);
        client.send(
            format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
                .as_bytes(),
        );
        client.send(&pattern(65_536, 1));
        // The client waits with most of its body unsent.
        let answer = read_response(&mut client.reader, false)
            .unwrap_or_else(|e| panic!("{path}: no early answer: {e}\n{}", daemon.log_text()));
        assert_eq!(answer.head.status(), status, "{path}: {:?}", answer.head);
        assert_eq!(answer.body, body, "{path}");
        // The request body is unfinished: nothing else can follow on
        // this connection, even after a keep-alive answer.
        if let Err(why) = closes(&mut client) {
            panic!("{path}: {why}");
        }
    }
    assert_eq!(backend.seen().len(), 2, "{:?}", backend.seen());
}

#[test]
fn an_early_answer_reaches_a_client_that_keeps_sending() {
    if !daemon_can_run() {
        return;
    }
    let backend = ScriptedBackend::start();
    let (daemon, port) = start_relay("http-early-sending", backend.port());
    // One backend stops reading after its answer, one closes at once.
    for path in ["/early-stall", "/early-close"] {
        let mut client = connect_waiting(port);
        let total = 64 * 1024 * 1024;
        client.send(
            format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {total}\r\n\r\n")
                .as_bytes(),
        );
        // Sends the body as fast as the relay takes it, as curl would,
        // while this thread waits for the answer.
        let mut body_writer = client.writer.try_clone().expect("clone the client socket");
        body_writer
            .set_write_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let sender = thread::spawn(move || {
            let piece = pattern(65_536, 2);
            let mut sent = 0;
            while sent < total && body_writer.write_all(&piece).is_ok() {
                sent += piece.len();
            }
            sent
        });
        let answer = read_response(&mut client.reader, false);
        let closed = answer.as_ref().ok().map(|_| closes(&mut client));
        // Unblocks the sender.
        let _ = client.writer.shutdown(std::net::Shutdown::Both);
        let sent = sender.join().expect("the body sender");
        let answer = answer.unwrap_or_else(|e| {
            panic!(
                "{path}: no answer while sending ({sent} of {total} body bytes went out): \
                 {e}\n{}",
                daemon.log_text()
            )
        });
        assert_eq!(answer.head.status(), 413, "{path}: {:?}", answer.head);
        assert_eq!(answer.body, b"too big!", "{path}");
        if let Some(Err(why)) = closed {
            panic!("{path}: {why}");
        }
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start_relay("http-pipeline", backend.port());
    let mut client = connect_waiting(port);
    client.send(
        b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond\
          POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nthi\r\n2\r\nrd\r\n0\r\n\r\n\
          GET /fourth HTTP/1.1\r\nHost: t\r\nX-Order: 4\r\n\r\n",
    );
    let mut answers = Vec::new();
    for _ in 0..4 {
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("answers so far {answers:?}\n{}", daemon.log_text()));
        answers.push(answer);
    }
    let numbers: Vec<_> = answers.iter().map(|a| a.header("X-Request")).collect();
    let expected: Vec<_> = ["1", "2", "3", "4"].map(|n| Some(n.to_string())).into();
    assert_eq!(numbers, expected);
    assert!(answers.iter().all(|a| a.status() == 200));
    assert!(answers[0].text().contains("Host: t"));
    assert_eq!(answers[1].body, b"second");
    assert_eq!(answers[2].body, b"third");
    assert!(answers[3].text().contains("X-Order: 4"));
    let connections: Vec<_> = answers.iter().map(|a| a.header("X-Connection")).collect();
    assert!(connections.iter().all(|c| *c == connections[0]));
    assert_eq!(backend.accepted(), 1);
}

#[test]
fn bodiless_answers_leave_the_connection_ready_for_the_next_request() {
    if !daemon_can_run() {
        return;
    }
    let backend = ScriptedBackend::start();
    let (daemon, port) = start_relay("http-bodiless", backend.port());
    let mut client = connect_waiting(port);
    let requests = [
        ("HEAD /page", 200, true),
        ("GET /204", 204, true),
        ("GET /304", 304, true),
        ("GET /after", 200, false),
    ];
    for (number, (request, status, bodiless)) in requests.into_iter().enumerate() {
        client.send(format!("{request} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let answer = read_response(&mut client.reader, bodiless).unwrap_or_else(|e| {
            panic!(
                "{request}: no answer (the relay waits for a body?): {e}\n{}",
                daemon.log_text()
            )
        });
        assert_eq!(answer.head.status(), status, "{request}");
        let expected_number = (number + 1).to_string();
        assert_eq!(
            answer.head.header("X-Request").as_deref(),
            Some(expected_number.as_str()),
            "{request}: same backend connection"
        );
        if request == "HEAD /page" {
            assert_eq!(answer.head.content_length(), Some(1234));
        }
        if !bodiless {
            assert_eq!(answer.body, b"/after");
        }
    }

    // The same with everything in one write: no answer may swallow the
    // next one's bytes as its body.
    let mut client = connect_waiting(port);
    client.send(
        b"HEAD /page HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /304 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /204 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /last HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    for status in [200, 304, 204] {
        let answer = read_response(&mut client.reader, true).expect("a bodiless answer");
        assert_eq!(answer.head.status(), status, "{:?}", answer.head);
    }
    let last = read_response(&mut client.reader, false).expect("the last answer");
    assert_eq!(last.body, b"/last");
    assert_eq!(last.head.header("X-Request").as_deref(), Some("4"));
}

#[test]
fn an_answer_ending_at_close_is_whole_and_says_connection_close() {
    if !daemon_can_run() {
        return;
    }
    let backend = ScriptedBackend::start();
    let port = free_port();
    // Without rules the relay adds `Connection: close` to the head it
    // forwards as is; with response rules it rewrites the head anyway.
    let plain = http_relay_config(port, backend.port(), "");
    let ruled = http_relay_config(
        port,
        backend.port(),
        "\tmatch response header set \"X-Via\" value \"relay\"",
    );
    for (label, config) in [
        ("http-until-close", plain),
        ("http-until-close-rules", ruled),
    ] {
        let daemon = Daemon::start(label, &config);
        let mut client = connect_waiting(port);
        client.send(b"GET /until-close HTTP/1.1\r\nHost: t\r\n\r\n");
        let answer = read_response(&mut client.reader, false)
            .unwrap_or_else(|e| panic!("{label}: {e}\n{}", daemon.log_text()));
        assert_eq!(answer.head.status(), 200, "{label}");
        assert_eq!(
            answer.head.header("Connection").as_deref(),
            Some("close"),
            "{label}: {:?}",
            answer.head
        );
        assert!(
            answer.head.content_length().is_none() && !answer.head.chunked(),
            "{label}: {:?}",
            answer.head
        );
        assert_eq!(answer.body.len(), UNTIL_CLOSE_SIZE, "{label}");
        assert!(answer.body == pattern(UNTIL_CLOSE_SIZE, 7), "{label}");
        if label.ends_with("rules") {
            assert_eq!(answer.head.header("X-Via").as_deref(), Some("relay"));
        }
        drop(daemon);
    }
}

#[test]
fn http_1_0_clients_close_unless_they_ask_for_keep_alive() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start_relay("http-1-0", backend.port());
    let mut client = connect_waiting(port);
    client.send(b"GET /old HTTP/1.0\r\nHost: t\r\n\r\n");
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
    assert_eq!(answer.status(), 200);
    if let Err(why) = closes(&mut client) {
        panic!("HTTP/1.0 without keep-alive: {why}");
    }

    let mut client = connect_waiting(port);
    for number in ["1", "2"] {
        client.send(b"GET /kept HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("request {number}: no answer\n{}", daemon.log_text()));
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.header("X-Request").as_deref(), Some(number));
    }
}

#[test]
fn more_smuggling_shapes_are_refused_and_never_forwarded() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start_relay("http-smuggling-shapes", backend.port());
    let shapes: [(&str, &[&[u8]]); 7] = [
        (
            "two Host headers",
            &[b"GET /smuggled HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            &[
                b"POST /smuggled HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                0\r\n\r\n",
            ],
        ),
        (
            "chunked not the last coding",
            &[
                b"POST /smuggled HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n\
                0\r\n\r\n",
            ],
        ),
        (
            "a signed Content-Length",
            &[b"POST /smuggled HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello"],
        ),
        (
            "a chunk longer than its size",
            &[
                b"POST /smuggled HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                3\r\nabcdef\r\n0\r\n\r\n",
            ],
        ),
        (
            "a chunk longer than its size, sent after the head",
            &[
                b"POST /smuggled HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"3\r\nabcdef\r\n0\r\n\r\n",
            ],
        ),
        (
            "a chunk longer than its size, hiding a request",
            &[
                b"POST /smuggled HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                3\r\nabcGET /hidden HTTP/1.1\r\nHost: t\r\n\r\n0\r\n\r\n",
            ],
        ),
    ];
    for (shape, writes) in shapes {
        let before = backend.seen().len();
        let mut client = connect_waiting(port);
        // A good request first: the backend connection is open and ready.
        assert_eq!(client.get("/good").status(), 200, "{shape}");
        for (n, bytes) in writes.iter().enumerate() {
            if n > 0 {
                thread::sleep(Duration::from_millis(200));
            }
            client.send(bytes);
        }
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("{shape}: no answer\n{}", daemon.log_text()));
        assert_eq!(answer.status(), 400, "{shape}");
        if let Err(why) = closes(&mut client) {
            panic!("{shape}: {why}");
        }
        // Give a forwarded request time to show up at the backend.
        thread::sleep(Duration::from_millis(100));
        let seen = backend.seen();
        let lines: Vec<_> = seen[before..].iter().map(|s| &s.head.start).collect();
        assert_eq!(lines, ["GET /good HTTP/1.1"], "{shape}");
    }
}
