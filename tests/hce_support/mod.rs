//! Helpers of the host check tests (tests/hce_*.rs): real backends on
//! 127.0.0.x started by the test (plain std threads), and waiting for a
//! host's state in `relayctl show hosts`.

#![allow(dead_code)] // each test file uses its own subset

use e2e::{stdout_text, summary_rows, wait_until, Daemon, SummaryRow};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What a backend does with each connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Accepts and closes: enough for `check tcp`.
    Accept,
    /// Reads the request until it holds `until` (or pauses), answers
    /// `answer` and closes.
    Reply { until: Vec<u8>, answer: Vec<u8> },
    /// Sends these bytes as soon as it accepts (a banner), then closes.
    Banner(Vec<u8>),
    /// Accepts and never answers (kept open until the backend stops).
    Silent,
}

/// A TCP server on `addr:port` running in a thread, stopped on drop.
pub struct Backend {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn start(ip: Ipv4Addr, port: u16, behaviour: Behaviour) -> Backend {
        let listener = TcpListener::bind((ip, port))
            .unwrap_or_else(|e| panic!("bind backend {ip}:{port}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("backend address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || serve(listener, behaviour, stopping));
        Backend {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// An HTTP/1.0 answer with this status line and body.
    pub fn http(status: &str, body: &str) -> Behaviour {
        Behaviour::Reply {
            until: b"\r\n\r\n".to_vec(),
            answer: format!(
                "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: TcpListener, behaviour: Behaviour, stop: Arc<AtomicBool>) {
    let mut held = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                match &behaviour {
                    Behaviour::Accept => drop(stream),
                    Behaviour::Reply { until, answer } => reply(stream, until, answer),
                    Behaviour::Banner(banner) => {
                        let mut stream = stream;
                        let _ = stream.write_all(banner);
                    }
                    Behaviour::Silent => held.push(stream),
                }
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn reply(mut stream: TcpStream, until: &[u8], answer: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                request.extend_from_slice(&buf[..n]);
                if request.windows(until.len()).any(|w| w == until) {
                    break;
                }
            }
        }
    }
    let _ = stream.write_all(answer);
}

/// The `show hosts` rows of the running daemon.
pub fn host_rows(daemon: &Daemon) -> Vec<SummaryRow> {
    let out = daemon.relayctl(&["show", "hosts"]);
    summary_rows(&stdout_text(&out))
        .into_iter()
        .filter(|r| r.kind == "host")
        .collect()
}

/// The full `show hosts` text, for failure messages and detail lines.
pub fn show_hosts(daemon: &Daemon) -> String {
    stdout_text(&daemon.relayctl(&["show", "hosts"]))
}

/// The status of the host named `name` (the first one if it is in
/// several tables).
pub fn host_state(daemon: &Daemon, name: &str) -> Option<String> {
    host_rows(daemon)
        .into_iter()
        .find(|r| host_name_is(&r.name, name))
        .map(|r| r.status)
}

/// relayctl shows a host with a parent as `127.0.0.2 parent 1`.
pub fn host_name_is(shown: &str, name: &str) -> bool {
    shown.split_whitespace().next() == Some(name)
}

/// The name of the first table in `show hosts` (`web:8080`).
pub fn first_table(daemon: &Daemon) -> String {
    let out = daemon.relayctl(&["show", "hosts"]);
    summary_rows(&stdout_text(&out))
        .into_iter()
        .find(|r| r.kind == "table")
        .map(|r| r.name)
        .unwrap_or_default()
}

/// Waits until host `name` shows `state`; panics with `show hosts` and the
/// daemon's log otherwise.
pub fn expect_state(daemon: &Daemon, name: &str, state: &str, within: Duration) {
    let reached = wait_until(within, || {
        host_state(daemon, name).as_deref() == Some(state)
    });
    assert!(
        reached,
        "host {name} did not become {state} within {within:?}\nshow hosts:\n{}\nrelayd log:\n{}",
        show_hosts(daemon),
        daemon.log_text()
    );
}

/// The detail line under host `name` in `show hosts` (`total: ...`).
pub fn host_detail(daemon: &Daemon, name: &str) -> String {
    let text = show_hosts(daemon);
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if fields.len() >= 3 && fields[1] == "host" && host_name_is(fields[2], name) {
            return lines.next().unwrap_or_default().trim().to_string();
        }
    }
    String::new()
}

/// A relay listening on a free port and forwarding to `<table>` on
/// `port` with `check`: relayd checks tables that something uses.
pub fn relay_using(name: &str, table: &str, port: u16, check: &str) -> String {
    format!(
        "relay {name} {{\n\
         \tlisten on 127.0.0.1 port {}\n\
         \tforward to <{table}> port {port} {check}\n\
         }}\n",
        e2e::free_port()
    )
}

/// Two check intervals of 1 s, plus slack for a loaded machine.
pub const TWO_INTERVALS: Duration = Duration::from_millis(2500);

/// An HTTPS server on 127.0.0.1 (python3's http.server wrapped in TLS, with
/// a certificate made by openssl(1)): answers GET and HEAD with 200, killed
/// on drop. `None` when python3 or openssl is missing.
pub struct TlsServer {
    pub port: u16,
    child: std::process::Child,
    /// The served directory (also holds the certificate and key).
    dir: e2e::ScratchDir,
}

impl TlsServer {
    pub fn start() -> Option<TlsServer> {
        use std::process::{Command, Stdio};
        let dir = e2e::ScratchDir::new("tls-server");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        if !made {
            return None;
        }
        let port = e2e::free_port();
        let server = format!(
            "import http.server, ssl\n\
             server = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
             context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
             context.load_cert_chain('{}', '{}')\n\
             server.socket = context.wrap_socket(server.socket, server_side=True)\n\
             server.serve_forever()\n",
            cert.display(),
            key.display()
        );
        let child = Command::new("python3")
            .arg("-c")
            .arg(server)
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = TlsServer { port, child, dir };
        let listening = wait_until(Duration::from_secs(5), || {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        });
        listening.then_some(server)
    }
}

impl TlsServer {
    /// Serves `contents` as `/name`.
    pub fn serve_file(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.join(name), contents).expect("write served file");
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
