//! End-to-end: HTTP bodies between two plain sockets move with splice(2).
//! 100 MB bodies, sized and chunked, both ways, arrive with the checksum
//! they left with (and smaller ones with `tcp { no splice }`, copied); a client that disappears mid-body ends only its
//! session; an answer shorter than its Content-Length reaches the client
//! as far as it came, then the connection closes. Needs root; skips
//! otherwise.

use e2e::{
    daemon_can_run, free_port, http_relay_config, pattern, read_head, stdout_text, wait_until,
    Checksum, Daemon, HttpBackend, HttpClient,
};
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

const BIG: usize = 100 << 20;

fn start(label: &str, backend: u16) -> (Daemon, u16) {
    let port = free_port();
    let daemon = Daemon::start(label, &http_relay_config(port, backend, ""));
    (daemon, port)
}

fn wait_sessions_gone(daemon: &Daemon) {
    let gone = wait_until(Duration::from_secs(20), || {
        stdout_text(&daemon.relayctl(&["show", "sessions"])).is_empty()
    });
    assert!(gone, "sessions left:\n{}", daemon.log_text());
}

#[test]
fn hundred_megabyte_bodies_arrive_unchanged_sized_and_chunked_both_ways() {
    if !daemon_can_run() {
        return;
    }
    round_trips("http-splice-big", "", BIG);
}

#[test]
fn without_splice_bodies_are_copied_and_arrive_unchanged() {
    if !daemon_can_run() {
        return;
    }
    // The buffered path: smaller, as it moves every byte through the relay.
    round_trips("http-no-splice", "\ttcp { no splice }", 16 << 20);
}

/// A `size` byte body echoed sized and then chunked through a relay with
/// `protocol`: both answers carry what was sent, and the session stays
/// in step.
fn round_trips(label: &str, protocol: &str, size: usize) {
    let backend = HttpBackend::start("one");
    let port = free_port();
    let daemon = Daemon::start(label, &http_relay_config(port, backend.port(), protocol));
    let upload = pattern(size, 21);
    let sent = Checksum::of(&upload);

    let mut client = HttpClient::connect(port);
    client.send(
        format!("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
    );
    client.send(&upload);
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.head.content_length(), Some(size));
    assert_eq!(answer.body.len(), size);
    assert!(Checksum::of(&answer.body) == sent, "sized body changed");
    drop(answer);

    client.send(b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in upload.chunks(3 << 20) {
        client.send(format!("{:x}\r\n", piece.len()).as_bytes());
        client.send(piece);
        client.send(b"\r\n");
    }
    client.send(b"0\r\n\r\n");
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("no answer\n{}", daemon.log_text()));
    assert_eq!(answer.status(), 200);
    assert!(answer.head.chunked());
    assert_eq!(answer.body.len(), size);
    assert!(Checksum::of(&answer.body) == sent, "chunked body changed");
    drop(answer);

    // The session is still in step: a small request after the big ones.
    assert_eq!(client.get("/after").status(), 200);
    let requests = backend.seen();
    assert_eq!(requests.len(), 3);
    assert!(requests[..2].iter().all(|r| Checksum::of(&r.body) == sent));
}

#[test]
fn a_client_leaving_mid_body_ends_only_its_session() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("one");
    let (daemon, port) = start("http-splice-leave", backend.port());

    // Leaves while the answer streams.
    let mut reading = HttpClient::connect(port);
    reading.send(format!("GET /download/{BIG} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    let head = read_head(&mut reading.reader)
        .expect("read")
        .expect("a head");
    assert!(head.start.contains(" 200 "), "{}", head.start);
    let mut some = vec![0; 1 << 20];
    reading.reader.read_exact(&mut some).expect("the first MiB");
    drop(reading);

    // Leaves while its request body streams.
    let mut sending = HttpClient::connect(port);
    sending.send(
        format!("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {BIG}\r\n\r\n").as_bytes(),
    );
    sending.send(&pattern(8 << 20, 5));
    drop(sending);

    wait_sessions_gone(&daemon);
    let mut next = HttpClient::connect(port);
    let answer = next.get("/still-serving");
    assert_eq!(answer.status(), 200, "{}", daemon.log_text());
    assert!(answer.text().contains("Host: test"), "its own answer");
}

/// A backend that answers every connection's first request with a head
/// promising `promised` bytes, then sends `sent` of them in a later write
/// and closes.
fn short_backend(promised: usize, sent: usize) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let thread = thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let _ = read_head(&mut reader);
        let mut writer: TcpStream = stream;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {promised}\r\n\r\n");
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.flush();
        // The body comes after the head has gone through: the relay
        // moves it on the splice path.
        thread::sleep(Duration::from_millis(100));
        let _ = writer.write_all(&pattern(sent, 9));
    });
    (port, thread)
}

#[test]
fn an_answer_shorter_than_its_length_arrives_as_far_as_it_came_then_closes() {
    if !daemon_can_run() {
        return;
    }
    let (promised, sent) = (10 << 20, 3 << 20);
    let (backend, thread) = short_backend(promised, sent);
    let (daemon, port) = start("http-splice-short", backend);
    let mut client = HttpClient::connect(port);
    client.send(b"GET /short HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = read_head(&mut client.reader)
        .expect("read")
        .expect("a head");
    assert!(head.start.contains(" 200 "), "{}", head.start);
    assert_eq!(head.content_length(), Some(promised));
    let mut got = Vec::new();
    let _ = client.reader.read_to_end(&mut got);
    assert_eq!(got.len(), sent, "what the backend sent, then the close");
    assert!(Checksum::of(&got) == Checksum::of(&pattern(sent, 9)));
    thread.join().expect("backend thread");
    wait_sessions_gone(&daemon);
    assert!(
        daemon.log_text().contains("unexpected end of file"),
        "{}",
        daemon.log_text()
    );
}
