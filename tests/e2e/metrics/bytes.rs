//! `relayd_relay_bytes_total`: a TCP relay counts exactly the payload it
//! moved each way (with splice and with the buffered copy), an HTTP relay
//! at least the request body it forwarded and the answer it delivered.
//! Read from `relayctl show metrics`, which promtool still accepts.

use e2e::{
    assert_promtool_accepts, connect, daemon_can_run, free_port, http_relay_config, pattern,
    relay_bytes, relayctl, stdout_text, tools_installed, wait_until, Daemon, HttpBackend,
    HttpClient, TcpBackend, TcpBehaviour,
};
use std::io::{Read, Write};
use std::time::Duration;

/// Waits (the relay processes publish every `interval 1` second) until
/// both directions of `relay` satisfy `enough`; the last exposition text.
fn wait_for_bytes(daemon: &Daemon, relay: &str, enough: impl Fn(u64, u64) -> bool) -> String {
    let mut text = String::new();
    let counted = wait_until(Duration::from_secs(10), || {
        text = stdout_text(&relayctl(&daemon.socket, &["show", "metrics"]));
        match (
            relay_bytes(&text, relay, "in"),
            relay_bytes(&text, relay, "out"),
        ) {
            (Some(inbound), Some(outbound)) => enough(inbound, outbound),
            _ => false,
        }
    });
    assert!(counted, "relay {relay}'s bytes never added up in\n{text}");
    text
}

/// Sends `data` through the TCP relay on `port` to an echo backend, reads
/// it all back, and checks the relay counted exactly that each way.
fn tcp_relay_counts_exactly(name: &str, protocol: &str) {
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Echo);
    let port = free_port();
    let config = format!(
        "interval 1\nprefork 2\n{protocol}\
         relay tcpbytes {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to 127.0.0.1 port {}\n{}\
         }}\n",
        backend.port(),
        if protocol.is_empty() {
            ""
        } else {
            "\tprotocol p\n"
        }
    );
    let daemon = Daemon::start(name, &config);
    // Two sessions, so that with prefork 2 both processes may count.
    let sizes = [300_000usize, 12_345];
    for (i, size) in sizes.iter().enumerate() {
        let data = pattern(*size, i as u64);
        let mut stream = connect(port);
        let writer = {
            let mut stream = stream.try_clone().expect("clone the client socket");
            let data = data.clone();
            std::thread::spawn(move || {
                stream.write_all(&data).expect("send through the relay");
                let _ = stream.shutdown(std::net::Shutdown::Write);
            })
        };
        let mut back = Vec::new();
        stream.read_to_end(&mut back).expect("read the echo");
        writer.join().expect("the writer thread");
        assert_eq!(back.len(), data.len(), "log:\n{}", daemon.log_text());
    }
    let total: u64 = sizes.iter().map(|s| *s as u64).sum();
    // Exact: a counter that ran ahead (or counted twice) fails as well.
    let text = wait_for_bytes(&daemon, "tcpbytes", |i, o| i >= total && o >= total);
    assert_eq!(relay_bytes(&text, "tcpbytes", "in"), Some(total), "{text}");
    assert_eq!(relay_bytes(&text, "tcpbytes", "out"), Some(total), "{text}");
    assert_promtool_accepts(&text);
}

#[test]
fn a_tcp_relay_counts_the_bytes_it_spliced_each_way() {
    if !daemon_can_run() || !tools_installed(&["promtool"]) {
        return;
    }
    tcp_relay_counts_exactly("metrics-bytes-splice", "");
}

#[test]
fn a_tcp_relay_counts_the_bytes_it_copied_each_way() {
    if !daemon_can_run() || !tools_installed(&["promtool"]) {
        return;
    }
    tcp_relay_counts_exactly(
        "metrics-bytes-copy",
        "protocol p {\n\ttcp { no splice }\n}\n",
    );
}

#[test]
fn an_http_relay_counts_heads_and_bodies_each_way() {
    if !daemon_can_run() || !tools_installed(&["promtool"]) {
        return;
    }
    let backend = HttpBackend::start("b");
    let port = free_port();
    let config = format!(
        "interval 1\n{}",
        http_relay_config(port, backend.port(), "")
    );
    let daemon = Daemon::start("metrics-bytes-http", &config);
    let body = pattern(200_000, 3);
    let mut client = HttpClient::connect(port);
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.send(head.as_bytes());
    client.send(&body);
    let answer = client.answer().expect("an answer to the upload");
    assert_eq!(answer.status(), 200, "log:\n{}", daemon.log_text());
    let got = client.get("/again");
    assert_eq!(got.status(), 200);
    // Heads vary (the relay may rewrite them): lower bounds. The request
    // body and head went to the backend; both answers' bodies came back.
    let least_in = (head.len() + body.len()) as u64;
    let least_out = (answer.body.len() + got.body.len()) as u64 + 2 * "HTTP/1.1 200".len() as u64;
    let text = wait_for_bytes(&daemon, "web", |i, o| i >= least_in && o >= least_out);
    assert_promtool_accepts(&text);
}

/// An upgraded session's bytes count while the tunnel is still open (a
/// long websocket would otherwise show nothing until it ends).
#[test]
fn a_websocket_tunnel_counts_its_bytes_while_open() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("ws");
    let port = free_port();
    let config = format!(
        "interval 1\n{}",
        http_relay_config(port, backend.port(), "\thttp websockets")
    );
    let daemon = Daemon::start("metrics-bytes-ws", &config);
    let mut client = HttpClient::connect(port);
    client
        .send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    let answer = client.answer().expect("an answer to the upgrade");
    assert_eq!(answer.status(), 101, "log:\n{}", daemon.log_text());
    let data = pattern(100_000, 9);
    let mut back = vec![0u8; data.len()];
    for (piece, echoed) in data.chunks(10_000).zip(back.chunks_mut(10_000)) {
        client.writer.write_all(piece).expect("send raw bytes");
        client.reader.read_exact(echoed).expect("echoed raw bytes");
    }
    assert!(back == data, "the raw stream changed");
    // The tunnel is still open here.
    let least = data.len() as u64;
    wait_for_bytes(&daemon, "web", |i, o| i >= least && o >= least);
    drop(client);
}
