//! End-to-end: backends that close right after their answer, through a
//! TCP relay, one connection per exchange. Every byte the backend wrote
//! must reach the client and be followed by a FIN, never a reset (a relay
//! closing a side with unread data, or before the last bytes left, sends a
//! RST: the client's read fails with ECONNRESET). And wrk with
//! `Connection: close` through a TCP relay to the demo backend counts no
//! read error, as scripts/bench-reload.sh needs. Needs root; the wrk test
//! needs wrk(1).

use e2e::{
    connect, daemon_can_run, free_port, pattern, tools_installed, wrk, Daemon, DemoBackend,
    TcpBackend, TcpBehaviour,
};
use std::io::{ErrorKind, Read, Write};

/// Exchanges per test: enough that a race between the backend's close
/// and the relay's last write shows up.
const EXCHANGES: usize = 300;

/// A TCP relay to `backend`; `protocol` is a `tcp protocol` block's body
/// (none: no protocol).
fn tcp_relay(port: u16, backend: u16, protocol: &str) -> String {
    let (block, uses) = match protocol {
        "" => (String::new(), ""),
        body => (
            format!("tcp protocol p {{\n\t{body}\n}}\n"),
            "\tprotocol p\n",
        ),
    };
    format!(
        "prefork 1\n\
         {block}\
         relay closing {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to 127.0.0.1 port {backend}\n\
         {uses}\
         }}\n"
    )
}

/// `EXCHANGES` times: write a request, read to the end; each answer must
/// come whole and end with end of file.
fn answers_end_with_a_fin(protocol: &str) {
    // Larger than the socket buffers, so the backend has closed while the
    // relay still moves its answer.
    let answer = pattern(300 << 10, 3);
    let backend = TcpBackend::start(
        "127.0.0.1:0",
        TcpBehaviour::Reply {
            until: b"\r\n\r\n".to_vec(),
            answer: answer.clone(),
        },
    );
    let port = free_port();
    let daemon = Daemon::start("relay-close", &tcp_relay(port, backend.port(), protocol));
    for exchange in 0..EXCHANGES {
        let mut stream = connect(port);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write the request");
        let mut got = Vec::with_capacity(answer.len());
        match stream.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => panic!(
                "exchange {exchange}: reset after {} of {} bytes\nlog:\n{}",
                got.len(),
                answer.len(),
                daemon.log_text()
            ),
            Err(e) => panic!("exchange {exchange}: {e}\nlog:\n{}", daemon.log_text()),
        }
        assert_eq!(got.len(), answer.len(), "exchange {exchange}: length");
        assert!(got == answer, "exchange {exchange}: the bytes differ");
    }
}

#[test]
fn answers_of_a_closing_backend_arrive_whole_and_end_with_a_fin_spliced() {
    if !daemon_can_run() {
        return;
    }
    answers_end_with_a_fin("");
}

#[test]
fn answers_of_a_closing_backend_arrive_whole_and_end_with_a_fin_copied() {
    if !daemon_can_run() {
        return;
    }
    answers_end_with_a_fin("tcp { no splice }");
}

/// wrk counts a read error for every connection that closes while it
/// takes it as kept alive: an HTTP/1.1 answer without `Connection:
/// close`. The demo backend closes after answering such a request, so it
/// must say so; through a TCP relay (which passes the answer unchanged)
/// wrk then counts no error at all.
#[test]
fn wrk_with_connection_close_through_a_tcp_relay_counts_no_error() {
    if !daemon_can_run() || !tools_installed(&["wrk"]) {
        return;
    }
    let backend = DemoBackend::start("a");
    let port = free_port();
    let daemon = Daemon::start("relay-close-wrk", &tcp_relay(port, backend.port, ""));
    let count = wrk(port, 4, 2, Some("Connection: close"));
    assert!(
        count.requests > 100,
        "wrk made {} requests:\n{}\nlog:\n{}",
        count.requests,
        count.output,
        daemon.log_text()
    );
    assert_eq!(
        (count.socket_errors, count.non_2xx),
        ([0; 4], 0),
        "wrk:\n{}",
        count.output
    );
}
