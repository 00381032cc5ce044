//! End-to-end: backend connection reuse of `http protocol` relays
//! (`http { reuse }`, the default). One-request clients are served over
//! one backend connection, counted at the backend; no connection goes
//! back to the pool after an unsafe ending (the backend's close, an
//! HTTP/1.0 request, a body cut off either way, an upgrade); a host the
//! hce marks down or relayctl disables loses its pooled connections; a
//! backend closing or talking on an idle pooled connection, or answering
//! a reused one with garbage, costs no other client anything; one closing
//! a kept connection just as a request goes out on it costs an idempotent
//! request nothing (it goes again over a fresh connection) and any other
//! a 502; a reload keeps the pooled connections its configuration can
//! use. Needs root; skips otherwise.

use e2e::{
    daemon_can_run, expect_state, free_port, host_rows, read_head, stdout_text, wait_until, Daemon,
    HttpBackend, HttpClient, HttpMessage, ScratchDir, TWO_INTERVALS,
};
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// One relay process, statistics every second, relay `web` forwarding to
/// `forward` (a `forward to` line's target and port).
fn config(port: u16, protocol: &str, tables: &str, forward: &str) -> String {
    format!(
        "prefork 1\n\
         interval 1\n\
         {tables}\n\
         http protocol p {{\n{protocol}\n}}\n\
         relay web {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tprotocol p\n\
         \tforward to {forward}\n\
         }}\n"
    )
}

fn start(label: &str, protocol: &str, backend: u16) -> (Daemon, u16) {
    let port = free_port();
    let forward = format!("127.0.0.1 port {backend}");
    let daemon = Daemon::start(label, &config(port, protocol, "", &forward));
    (daemon, port)
}

/// A client connection with one request that says `Connection: close`
/// and carries `X-Client: client`; its answer, and whether the relay
/// closed the connection after it.
fn one_request(port: u16, path: &str, client: u32) -> (Option<HttpMessage>, bool) {
    let mut connection = HttpClient::connect(port);
    connection.send(
        format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nX-Client: {client}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let answer = connection.answer();
    (answer, connection.closed())
}

/// [`one_request`] that must get a 200 answering this very client; the
/// backend connection it went over (`X-Connection`).
fn served(daemon: &Daemon, port: u16, path: &str, client: u32) -> u32 {
    let (answer, closed) = one_request(port, path, client);
    let answer = answer.unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
    assert_eq!(
        answer.status(),
        200,
        "{}\n{}",
        answer.text(),
        daemon.log_text()
    );
    assert!(
        answer.text().contains(&format!("X-Client: {client}\n"))
            || answer.text().ends_with(&format!("X-Client: {client}")),
        "client {client} got another request's answer: {}",
        answer.text()
    );
    assert!(closed, "the relay closes after the answer to a close");
    answer
        .header("X-Connection")
        .and_then(|c| c.parse().ok())
        .expect("X-Connection")
}

/// The detail lines of relay `web` in `show relays`.
fn relay_details(daemon: &Daemon) -> String {
    stdout_text(&daemon.relayctl(&["show", "relays"]))
}

/// Waits until the relay process has no session left (so that what the
/// last one left in the pool is there).
fn wait_sessions_gone(daemon: &Daemon) {
    let gone = wait_until(Duration::from_secs(10), || {
        stdout_text(&daemon.relayctl(&["show", "sessions"])).is_empty()
    });
    assert!(gone, "sessions left:\n{}", daemon.log_text());
}

#[test]
fn one_request_clients_are_served_over_one_backend_connection() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start("http-reuse", "", backend.port());
    for client in 1..=6 {
        let (answer, closed) = one_request(port, "/", client);
        let answer = answer.unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.header("X-Connection").as_deref(), Some("1"));
        assert_eq!(answer.header("X-Request"), Some(client.to_string()));
        assert_eq!(
            answer.header("Connection").as_deref(),
            Some("close"),
            "the client is told the connection closes"
        );
        assert!(closed);
        let received = answer.text();
        assert!(
            received.contains(&format!("X-Client: {client}")),
            "{received}"
        );
        assert!(
            !received.to_ascii_lowercase().contains("connection: close"),
            "the client's close is kept from the backend: {received}"
        );
    }
    assert_eq!(backend.accepted(), 1, "six clients, one backend connection");
    let shown = wait_until(Duration::from_secs(10), || {
        relay_details(&daemon).contains("\tbackend connections: 1 idle, 5 reused\n")
    });
    assert!(shown, "show relays:\n{}", relay_details(&daemon));
}

#[test]
fn without_reuse_every_client_has_its_own_backend_connection() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start("http-no-reuse", "\thttp { no reuse }", backend.port());
    for client in 1..=3 {
        let (answer, _) = one_request(port, "/", client);
        let answer = answer.expect("an answer");
        assert_eq!(answer.header("X-Connection"), Some(client.to_string()));
        assert!(
            answer.text().contains("Connection: close"),
            "forwarded as sent"
        );
    }
    assert_eq!(backend.accepted(), 3);
    std::thread::sleep(TWO_INTERVALS);
    let details = relay_details(&daemon);
    assert!(details.contains("total: 3 sessions"), "{details}");
    assert!(!details.contains("backend connections"), "{details}");
}

#[test]
fn no_connection_is_reused_after_an_unsafe_ending() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start("http-reuse-unsafe", "\thttp { websockets }", backend.port());
    assert_eq!(served(&daemon, port, "/", 1), 1);
    assert_eq!(served(&daemon, port, "/", 2), 1, "reused");

    // The backend says close.
    assert_eq!(served(&daemon, port, "/close", 3), 1);
    assert_eq!(served(&daemon, port, "/", 4), 2);

    // An HTTP/1.0 request without keep-alive: the backend may close.
    let mut old = HttpClient::connect(port);
    old.send(b"GET /old HTTP/1.0\r\nHost: test\r\n\r\n");
    let answer = old.answer().expect("an answer");
    assert_eq!(answer.header("X-Connection").as_deref(), Some("2"));
    assert!(old.closed());
    wait_sessions_gone(&daemon);
    assert_eq!(served(&daemon, port, "/", 5), 3);

    // The backend's answer breaks off mid-body.
    let mut dying = HttpClient::connect(port);
    dying.send(b"GET /die HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let _ = dying.answer();
    wait_sessions_gone(&daemon);
    assert_eq!(served(&daemon, port, "/", 6), 4);

    // The client leaves with most of the answer unread.
    let mut leaving = HttpClient::connect(port);
    leaving.send(b"GET /download/8000000 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let head = read_head(&mut leaving.reader)
        .expect("read")
        .expect("a head");
    assert!(head.start.contains(" 200 "), "{}", head.start);
    drop(leaving);
    wait_sessions_gone(&daemon);
    assert_eq!(served(&daemon, port, "/", 7), 5);

    // An upgraded connection is a byte stream, never an HTTP one again.
    let mut upgraded = HttpClient::connect(port);
    upgraded.send(
        b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let head = read_head(&mut upgraded.reader)
        .expect("read")
        .expect("a head");
    assert!(head.start.contains(" 101 "), "{}", head.start);
    assert_eq!(head.header("X-Connection").as_deref(), Some("5"));
    drop(upgraded);
    // The test backend keeps its end of the tunnel open; the pool is
    // empty now (the upgrade took connection 5), so nothing else closes.
    backend.drop_connections();
    wait_sessions_gone(&daemon);
    assert_eq!(served(&daemon, port, "/", 8), 6);
    assert_eq!(backend.accepted(), 6);
}

#[test]
fn a_host_disabled_or_marked_down_loses_its_pooled_connections() {
    if !daemon_can_run() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let backend = HttpBackend::start("one");
    let dir = ScratchDir::new("http-reuse-down");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod scratch dir");
    let flag = dir.write("up", "");
    // relayd's check scripts: exit status 1 is up.
    let script = dir.write(
        "check.sh",
        &format!("#!/bin/sh\n[ -e {} ] && exit 1\nexit 0\n", flag.display()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("chmod script");
    let port = free_port();
    let tables = "table <t> { 127.0.0.1 }";
    let forward = format!(
        "<t> port {} check script \"{}\"",
        backend.port(),
        script.display()
    );
    let daemon = Daemon::start(
        "http-reuse-down",
        &config(port, "\treturn error", tables, &forward),
    );
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(20));
    assert_eq!(served(&daemon, port, "/", 1), 1);
    assert_eq!(served(&daemon, port, "/", 2), 1, "reused");

    let host = host_rows(&daemon)
        .into_iter()
        .find(|r| r.name.starts_with("127.0.0.1"))
        .expect("the host row")
        .id
        .to_string();
    let out = daemon.relayctl(&["host", "disable", &host]);
    assert!(out.status.success(), "{}", stdout_text(&out));
    let (answer, _) = one_request(port, "/", 3);
    assert_eq!(
        answer.map(|a| a.status()),
        Some(503),
        "no host while disabled"
    );
    let out = daemon.relayctl(&["host", "enable", &host]);
    assert!(out.status.success(), "{}", stdout_text(&out));
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(20));
    assert_eq!(
        served(&daemon, port, "/", 4),
        2,
        "the pool lost connection 1"
    );
    assert_eq!(served(&daemon, port, "/", 5), 2, "reused");

    std::fs::remove_file(&flag).expect("remove the flag");
    expect_state(&daemon, "127.0.0.1", "down", Duration::from_secs(20));
    let (answer, _) = one_request(port, "/", 6);
    assert_eq!(answer.map(|a| a.status()), Some(503), "no host while down");
    std::fs::write(&flag, "").expect("write the flag");
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(20));
    assert_eq!(
        served(&daemon, port, "/", 7),
        3,
        "the pool lost connection 2"
    );
    assert_eq!(backend.accepted(), 3);
}

/// A reload (or a table change) used to empty the pool, so under
/// one-connection-per-request load every client's next request connected
/// anew at once (p99 doubled in scripts/bench-reload.sh). A reload that
/// keeps the relay as it was keeps its pooled connection; one that changes
/// how the relay connects to backends (its `tcp { }` options) closes it.
#[test]
fn a_reload_keeps_pooled_connections_the_new_configuration_can_use() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let port = free_port();
    let forward = format!("127.0.0.1 port {}", backend.port());
    let daemon = Daemon::start("http-reuse-reload", &config(port, "", "", &forward));
    assert_eq!(served(&daemon, port, "/", 1), 1);
    wait_sessions_gone(&daemon);
    for reload in 0..3 {
        let out = daemon.relayctl(&["reload"]);
        assert!(
            out.status.success(),
            "reload {reload}: {}",
            stdout_text(&out)
        );
        assert_eq!(
            served(&daemon, port, "/", 2 + reload),
            1,
            "reload {reload}: connection 1 serves the next client\n{}",
            daemon.log_text()
        );
        wait_sessions_gone(&daemon);
    }
    assert_eq!(
        backend.accepted(),
        1,
        "one backend connection over 3 reloads"
    );

    daemon.rewrite_config(&config(port, "\ttcp { nodelay }", "", &forward));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "{}", stdout_text(&out));
    assert_eq!(
        served(&daemon, port, "/", 5),
        2,
        "other socket options: a new connection"
    );
    assert_eq!(backend.accepted(), 2);
}

#[test]
fn a_backend_closing_a_pooled_connection_costs_the_next_client_nothing() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start("http-reuse-closed", "", backend.port());
    assert_eq!(served(&daemon, port, "/", 1), 1);
    backend.drop_connections();
    // The backend's close has reached the relay's idle socket.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(served(&daemon, port, "/", 2), 2);
    assert_eq!(served(&daemon, port, "/", 3), 2, "reused");
}

/// A backend for the garbage cases: every request gets a normal answer
/// (`X-Connection`, its request line as the body), except `/garbage`,
/// which is answered with bytes that are no HTTP, and `/chatty`, whose
/// connection later sends bytes nobody asked for.
struct GarbageBackend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU32>,
    thread: Option<thread::JoinHandle<()>>,
}

impl GarbageBackend {
    fn start() -> GarbageBackend {
        GarbageBackend::serving(serve_garbage)
    }

    /// A backend whose connection number `n` is served by `serve`.
    fn serving(serve: fn(TcpStream, u32) -> io::Result<()>) -> GarbageBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU32::new(0));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let number = accepted.fetch_add(1, Ordering::SeqCst) + 1;
                    thread::spawn(move || {
                        let _ = serve(stream, number);
                    });
                }
            })
        };
        GarbageBackend {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }
}

impl Drop for GarbageBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_garbage(stream: TcpStream, connection: u32) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(head) = read_head(&mut reader)? {
        let path = head.start.split(' ').nth(1).unwrap_or("/").to_string();
        if path == "/garbage" {
            writer.write_all(b"SECRET OF ANOTHER CLIENT\r\n\r\n")?;
            continue;
        }
        let body = head.start.clone();
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nX-Connection: {connection}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        writer.flush()?;
        if path == "/chatty" {
            thread::sleep(Duration::from_millis(100));
            writer.write_all(b"SECRET OF ANOTHER CLIENT")?;
        }
    }
    Ok(())
}

/// The answer to a one-request client asking for `path`, as text, with
/// the connection it came over.
fn garbage_case(daemon: &Daemon, port: u16, path: &str) -> HttpMessage {
    let (answer, _) = one_request(port, path, 0);
    answer.unwrap_or_else(|| panic!("no answer to {path}\n{}", daemon.log_text()))
}

#[test]
fn garbage_on_a_pooled_connection_reaches_no_other_client() {
    if !daemon_can_run() {
        return;
    }
    let backend = GarbageBackend::start();
    let (daemon, port) = start("http-reuse-garbage", "\treturn error", backend.addr.port());
    let first = garbage_case(&daemon, port, "/first");
    assert_eq!(first.header("X-Connection").as_deref(), Some("1"));

    // The reused connection answers with garbage: 502, nothing of it.
    let broken = garbage_case(&daemon, port, "/garbage");
    assert_eq!(broken.status(), 502);
    assert!(!broken.text().contains("SECRET"), "{}", broken.text());
    let next = garbage_case(&daemon, port, "/next");
    assert_eq!(next.status(), 200);
    assert_eq!(next.header("X-Connection").as_deref(), Some("2"));
    assert_eq!(next.text(), "GET /next HTTP/1.1");

    // An idle pooled connection sends something unasked: it is dropped.
    let chatty = garbage_case(&daemon, port, "/chatty");
    assert_eq!(chatty.header("X-Connection").as_deref(), Some("2"));
    std::thread::sleep(Duration::from_millis(300));
    let after = garbage_case(&daemon, port, "/after");
    assert_eq!(after.status(), 200);
    assert_eq!(after.header("X-Connection").as_deref(), Some("3"));
    assert_eq!(after.text(), "GET /after HTTP/1.1");
    assert_eq!(backend.accepted.load(Ordering::SeqCst), 3);
}

/// A backend that serves one request per connection and closes the
/// connection without a word when the next request arrives on it: a
/// server whose idle timer fires just as the relay sends the request.
/// The answer's body is what the backend got: request line, `X-Client`,
/// body.
fn serve_once(stream: TcpStream, connection: u32) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let length = head
        .header("Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    io::Read::read_exact(&mut reader, &mut body)?;
    let client = head.header("X-Client").unwrap_or_default();
    let got = format!(
        "{} {}\nX-Client: {client}",
        head.start,
        String::from_utf8_lossy(&body)
    );
    write!(
        writer,
        "HTTP/1.1 200 OK\r\nX-Connection: {connection}\r\nContent-Length: {}\r\n\r\n{got}",
        got.len()
    )?;
    writer.flush()?;
    // The next request finds the connection closing.
    let _ = read_head(&mut reader);
    Ok(())
}

#[test]
fn a_request_crossing_the_backends_close_goes_again_if_it_may() {
    if !daemon_can_run() {
        return;
    }
    let backend = GarbageBackend::serving(serve_once);
    let (daemon, port) = start("http-reuse-crossing", "\treturn error", backend.addr.port());
    assert_eq!(served(&daemon, port, "/", 1), 1);
    wait_sessions_gone(&daemon);
    // Connection 1 comes from the pool and closes under the request.
    assert_eq!(served(&daemon, port, "/", 2), 2, "sent again, unnoticed");
    wait_sessions_gone(&daemon);

    // A keep-alive client: its second request crosses the close of the
    // session's own backend connection.
    let mut client = HttpClient::connect(port);
    for (request, connection) in [(3, "3"), (4, "4")] {
        client.send(
            format!("GET /{request} HTTP/1.1\r\nHost: test\r\nX-Client: {request}\r\n\r\n")
                .as_bytes(),
        );
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
        assert_eq!(answer.status(), 200, "{}", daemon.log_text());
        assert_eq!(answer.header("X-Connection").as_deref(), Some(connection));
        assert_eq!(
            answer.text(),
            format!("GET /{request} HTTP/1.1 \nX-Client: {request}")
        );
    }
    drop(client);
    wait_sessions_gone(&daemon);

    // An idempotent request with its body: the body goes again too.
    let mut put = HttpClient::connect(port);
    put.send(b"PUT /doc HTTP/1.1\r\nHost: test\r\nX-Client: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    let answer = put.answer().expect("an answer to the PUT");
    assert_eq!(answer.status(), 200, "{}", daemon.log_text());
    assert_eq!(answer.header("X-Connection").as_deref(), Some("5"));
    assert_eq!(answer.text(), "PUT /doc HTTP/1.1 hello\nX-Client: 5");
    wait_sessions_gone(&daemon);

    // A POST may have been acted on: never sent twice, the client gets 502.
    let mut post = HttpClient::connect(port);
    post.send(
        b"POST /order HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1",
    );
    let answer = post.answer().expect("an answer to the POST");
    assert_eq!(answer.status(), 502, "{}", answer.text());
    wait_sessions_gone(&daemon);
    assert_eq!(
        backend.accepted.load(Ordering::SeqCst),
        5,
        "no connection for the POST"
    );

    // The relay goes on serving, over a fresh connection.
    assert_eq!(served(&daemon, port, "/", 6), 6);
}
