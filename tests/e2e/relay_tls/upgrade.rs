//! HTTP relays' answers that are not a backend's plain response, over TLS
//! and read by a rustls client: a websocket upgrade (`http websockets`)
//! relays the raw stream both ways inside the TLS session, and `return
//! error` pages reach the client encrypted.

use e2e::{daemon_can_run, free_port, pattern, Daemon, HttpBackend, SslDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A rustls client to 127.0.0.1:`port` for www.test, trusting only `ca`.
fn rustls_client(port: u16, ca: &Path) -> TlsStream {
    let mut roots = RootCertStore::empty();
    let certificate =
        CertificateDer::from_pem_file(ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
    roots
        .add(certificate)
        .expect("the relay's certificate as a root");
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("www.test").expect("a DNS name");
    let connection = ClientConnection::new(Arc::new(config), name).expect("a client session");
    let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    StreamOwned::new(connection, socket)
}

/// Reads an answer's head (up to the blank line) and returns it as text.
fn read_head(stream: &mut TlsStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "answer head cut short ({other:?}): {}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Relay `www` terminating TLS with keypair www in an http protocol with
/// `protocol_lines`, forwarding to 127.0.0.1:`backend`.
fn start(
    label: &str,
    backend: u16,
    protocol_lines: &str,
) -> (Daemon, SslDir, std::path::PathBuf, u16) {
    let ssl = SslDir::new(label);
    // webpki takes no self-signed CA certificate as a server's: a test CA
    // issues www's, and the client trusts the CA.
    let ca = ssl.ca("upgrade-ca");
    ssl.signed("www", "upgrade-ca", &["www.test"]);
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         http protocol p {{\n\ttls keypair www\n{protocol_lines}\n}}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port} tls\n\
         \tprotocol p\n\
         \tforward to 127.0.0.1 port {backend}\n\
         }}\n"
    );
    let daemon = Daemon::start_with_ssl(label, &config, &ssl);
    (daemon, ssl, ca, port)
}

#[test]
fn a_websocket_upgrade_relays_the_raw_stream_inside_tls() {
    if !daemon_can_run() {
        return;
    }
    let backend = HttpBackend::start("ws");
    let (daemon, _ssl, ca, port) = start("tls-websockets", backend.port(), "\thttp websockets");
    let mut client = rustls_client(port, &ca);
    client
        .write_all(b"GET /ws HTTP/1.1\r\nHost: www.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        .expect("send the upgrade");
    let head = read_head(&mut client);
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "{head}\n{}",
        daemon.log_text()
    );
    // After the 101 the backend echoes raw bytes: send and read back in
    // pieces, so neither side's buffers have to hold it all.
    let data = pattern(200_000, 7);
    let mut back = Vec::with_capacity(data.len());
    for piece in data.chunks(16 * 1024) {
        client.write_all(piece).expect("send raw bytes");
        let mut echoed = vec![0u8; piece.len()];
        client.read_exact(&mut echoed).expect("echoed raw bytes");
        back.extend_from_slice(&echoed);
    }
    assert!(back == data, "the raw stream changed inside TLS");
}

#[test]
fn return_error_pages_reach_a_tls_client() {
    if !daemon_can_run() {
        return;
    }
    let nobody = free_port();
    let (daemon, _ssl, ca, port) = start("tls-return-error", nobody, "\treturn error");
    let mut client = rustls_client(port, &ca);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: www.test\r\n\r\n")
        .expect("send a request");
    let head = read_head(&mut client);
    assert!(
        // relayd answers its pages in HTTP/1.0.
        head.starts_with("HTTP/1.0 504 "),
        "{head}\n{}",
        daemon.log_text()
    );
    assert!(head.contains("Server: relayd"), "{head}");
    let mut page = Vec::new();
    // The page ends the session: read to its end (close_notify or close).
    let _ = client.read_to_end(&mut page);
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("connect failed"), "{page}");
}
