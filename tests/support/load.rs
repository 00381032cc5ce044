//! Clients that keep a relay busy while something changes under it (a
//! reload, a table change, a drain), and count what went wrong. Every loop
//! is bounded: it stops when told, after `LOOP_LIMIT` requests, or after
//! `LOOP_TIME` (a safety bound, never something a test asserts on).

use crate::http::read_message;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// At most this many requests per loop.
pub const LOOP_LIMIT: u64 = 200_000;
/// At most this long per loop.
pub const LOOP_TIME: Duration = Duration::from_secs(120);

/// How a loop talks to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopKind {
    /// A new connection per `GET /`, `Connection: close`.
    HttpPerRequest,
    /// One connection, `GET /` after `GET /` (a new one after a failure).
    HttpKeepAlive,
    /// A new connection per round trip to an echo backend: 16 bytes
    /// written, half-closed, the same 16 bytes read back.
    TcpEcho,
}

/// What a loop counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopCount {
    pub ok: u64,
    /// connect(2) failed: refused or reset.
    pub refused: u64,
    /// The connection was reset or closed before a whole answer.
    pub broken: u64,
    /// A whole answer that was not 2xx, or echo bytes that differ.
    pub wrong: u64,
    /// The first few failures, in words.
    pub first_failures: Vec<String>,
}

impl LoopCount {
    pub fn failures(&self) -> u64 {
        self.refused + self.broken + self.wrong
    }

    fn failed(&mut self, what: String) {
        if self.first_failures.len() < 5 {
            self.first_failures.push(what);
        }
    }
}

/// A client looping against 127.0.0.1:`port` in a thread of its own.
pub struct ClientLoop {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<LoopCount>>,
}

impl ClientLoop {
    pub fn start(port: u16, kind: LoopKind) -> ClientLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || run(port, kind, &flag));
        ClientLoop {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the loop and says what it counted.
    pub fn finish(mut self) -> LoopCount {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for ClientLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Failure {
    Refused(String),
    Broken(String),
    Wrong(String),
}

fn run(port: u16, kind: LoopKind, stop: &AtomicBool) -> LoopCount {
    let mut count = LoopCount::default();
    let started = Instant::now();
    let mut kept: Option<(BufReader<TcpStream>, TcpStream)> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) && n < LOOP_LIMIT && started.elapsed() < LOOP_TIME {
        n += 1;
        let result = match kind {
            LoopKind::HttpPerRequest => http_once(port),
            LoopKind::HttpKeepAlive => http_kept(port, &mut kept),
            LoopKind::TcpEcho => echo_once(port, n),
        };
        match result {
            Ok(()) => count.ok += 1,
            Err(Failure::Refused(why)) => {
                count.refused += 1;
                count.failed(format!("request {n}: connect: {why}"));
            }
            Err(Failure::Broken(why)) => {
                count.broken += 1;
                count.failed(format!("request {n}: {why}"));
                kept = None;
            }
            Err(Failure::Wrong(why)) => {
                count.wrong += 1;
                count.failed(format!("request {n}: {why}"));
                kept = None;
            }
        }
    }
    count
}

fn connect(port: u16) -> Result<TcpStream, Failure> {
    let stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| Failure::Refused(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    Ok(stream)
}

fn broken(e: std::io::Error) -> Failure {
    Failure::Broken(format!("{:?}: {e}", e.kind()))
}

fn http_once(port: u16) -> Result<(), Failure> {
    let mut stream = connect(port)?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n")
        .map_err(broken)?;
    let mut reader = BufReader::new(stream);
    answer(&mut reader)
}

fn http_kept(
    port: u16,
    kept: &mut Option<(BufReader<TcpStream>, TcpStream)>,
) -> Result<(), Failure> {
    if kept.is_none() {
        let stream = connect(port)?;
        let reader = BufReader::new(stream.try_clone().map_err(broken)?);
        *kept = Some((reader, stream));
    }
    let Some((reader, writer)) = kept.as_mut() else {
        return Err(Failure::Broken("no connection".into()));
    };
    writer
        .write_all(b"GET / HTTP/1.1\r\nHost: load\r\n\r\n")
        .map_err(broken)?;
    answer(reader)
}

fn answer(reader: &mut BufReader<TcpStream>) -> Result<(), Failure> {
    match read_message(reader) {
        Ok(Some(message)) if (200..300).contains(&message.status()) => Ok(()),
        Ok(Some(message)) => Err(Failure::Wrong(format!("answer {}", message.head.start))),
        Ok(None) => Err(Failure::Broken("closed before an answer".into())),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
            Err(Failure::Broken("closed in an answer".into()))
        }
        Err(e) => Err(broken(e)),
    }
}

fn echo_once(port: u16, n: u64) -> Result<(), Failure> {
    let mut stream = connect(port)?;
    let data = format!("{n:015}\n");
    stream.write_all(data.as_bytes()).map_err(broken)?;
    stream.shutdown(Shutdown::Write).map_err(broken)?;
    let mut back = Vec::new();
    stream.read_to_end(&mut back).map_err(broken)?;
    if back == data.as_bytes() {
        Ok(())
    } else {
        Err(Failure::Wrong(format!(
            "echo {} bytes back of {}",
            back.len(),
            data.len()
        )))
    }
}

/// What a [`LoadBackend`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadAnswer {
    /// HTTP/1.1, keep-alive: `200 OK` with `X-Backend: NAME` and the name
    /// as body, for every request.
    Http,
    /// Sends back what it reads, closes after the client half-closed.
    Echo,
}

/// A backend for load: a thread per connection and nothing kept of a
/// connection once it ends, so many thousands of them cost nothing.
pub struct LoadBackend {
    pub port: u16,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LoadBackend {
    /// A backend on a free port of 127.0.0.1.
    pub fn start(name: &str, answer: LoadAnswer) -> LoadBackend {
        Self::start_on("127.0.0.1:0", name, answer)
    }

    /// A backend on `addr` (`127.0.0.2:PORT`).
    pub fn start_on(addr: &str, name: &str, answer: LoadAnswer) -> LoadBackend {
        let listener = std::net::TcpListener::bind(addr)
            .unwrap_or_else(|e| panic!("bind a load backend on {addr}: {e}"));
        let addr = listener.local_addr().expect("its address");
        let port = addr.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = name.to_string();
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let name = name.clone();
                thread::spawn(move || match answer {
                    LoadAnswer::Http => serve_http(stream, &name),
                    LoadAnswer::Echo => serve_echo(stream),
                });
            }
        });
        LoadBackend {
            port,
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LoadBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_http(stream: TcpStream, name: &str) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(LOOP_TIME));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader) {
        let close = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nX-Backend: {name}\r\nContent-Length: {}\r\n{}\r\n{name}",
            name.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if writer.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn serve_echo(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(LOOP_TIME));
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
