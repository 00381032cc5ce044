//! An HTTP/1.1 backend and client for the HTTP relay end-to-end tests
//! (tests/relay_http*.rs), written on std sockets so that every byte on
//! the wire is what the test chose, including malformed requests.
//!
//! The backend answers every request with `X-Backend` (its name),
//! `X-Connection` (which accepted connection) and `X-Request` (which
//! request on it), and a body that depends on the path:
//! `/echo` sends the request body back (same framing), `/download/N`
//! sends N pattern bytes chunked, `/close` answers with
//! `Connection: close`, `/die` sends part of a body and closes the
//! connection, anything else lists the header lines it received
//! exactly as written. An Upgrade request gets `101` and then an echo of
//! raw bytes.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request_line: String,
    /// Header lines as received, case and order kept.
    pub header_lines: Vec<String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_lines.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

pub struct HttpBackend {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU32>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HttpBackend {
    pub fn start(name: &str) -> HttpBackend {
        Self::start_on("127.0.0.1:0", name)
    }

    /// A backend listening on `addr` (e.g. `127.0.0.2:PORT`).
    pub fn start_on(addr: &str, name: &str) -> HttpBackend {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted, seen, streams) = (
                stop.clone(),
                accepted.clone(),
                seen.clone(),
                streams.clone(),
            );
            let name = name.to_string();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    // Answers are written in pieces: no Nagle delays.
                    let _ = stream.set_nodelay(true);
                    let number = accepted.fetch_add(1, Ordering::SeqCst) + 1;
                    streams.lock().unwrap().push(stream.try_clone().unwrap());
                    let (name, seen) = (name.clone(), seen.clone());
                    thread::spawn(move || {
                        let _ = serve(stream, &name, number, &seen);
                    });
                }
            })
        };
        HttpBackend {
            addr,
            stop,
            accepted,
            seen,
            streams,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn accepted(&self) -> u32 {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Closes every connection it has open, like a crashed server.
    pub fn drop_connections(&self) {
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.drop_connections();
    }
}

fn serve(
    stream: TcpStream,
    name: &str,
    connection: u32,
    seen: &Mutex<Vec<Seen>>,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut number = 0;
    loop {
        let Some(message) = read_message(&mut reader)? else {
            return Ok(());
        };
        number += 1;
        let (line, headers, body, chunked) = message;
        seen.lock().unwrap().push(Seen {
            request_line: line.clone(),
            header_lines: headers.clone(),
            body: body.clone(),
        });
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        let common =
            format!("X-Backend: {name}\r\nX-Connection: {connection}\r\nX-Request: {number}\r\n");
        let has = |key: &str| {
            headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with(key))
        };
        if has("upgrade:") {
            write!(
                writer,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{common}\r\n"
            )?;
            writer.flush()?;
            let mut buffer = vec![0; 16384];
            loop {
                let n = reader.read(&mut buffer)?;
                if n == 0 {
                    return Ok(());
                }
                writer.write_all(&buffer[..n])?;
            }
        }
        if path == "/echo" {
            if chunked {
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n"
                )?;
                for piece in body.chunks(10_000) {
                    write!(writer, "{:x}\r\n", piece.len())?;
                    writer.write_all(piece)?;
                    writer.write_all(b"\r\n")?;
                }
                writer.write_all(b"0\r\n\r\n")?;
            } else {
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n",
                    body.len()
                )?;
                writer.write_all(&body)?;
            }
        } else if path == "/die" {
            // Promises more than it sends, then goes away mid-body.
            write!(
                writer,
                "HTTP/1.1 200 OK\r\n{common}Content-Length: 100000\r\n\r\n"
            )?;
            writer.write_all(&[b'x'; 1000])?;
            writer.flush()?;
            return writer.shutdown(std::net::Shutdown::Both);
        } else if let Some(size) = path.strip_prefix("/download/") {
            let size: usize = size.parse().unwrap_or(0);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n"
            )?;
            let data = pattern(size, 3);
            for piece in data.chunks(65_536) {
                write!(writer, "{:x}\r\n", piece.len())?;
                writer.write_all(piece)?;
                writer.write_all(b"\r\n")?;
            }
            writer.write_all(b"0\r\n\r\n")?;
        } else {
            let listing = headers.join("\n");
            let close = if path == "/close" {
                "Connection: close\r\n"
            } else {
                ""
            };
            write!(
                writer,
                "HTTP/1.1 200 OK\r\n{common}{close}Content-Length: {}\r\n\r\n{listing}",
                listing.len()
            )?;
            if !close.is_empty() {
                writer.flush()?;
                return Ok(());
            }
        }
        writer.flush()?;
    }
}

/// Start line, header lines, body, whether the body was chunked.
pub type Message = (String, Vec<String>, Vec<u8>, bool);

/// A start line and its header lines, as read from the wire.
#[derive(Debug)]
pub struct Head {
    pub start: String,
    pub headers: Vec<String>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

/// A body framed by chunked or Content-Length; empty without either.
pub fn read_framed_body(reader: &mut impl BufRead, head: &Head) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.chunked() {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut piece = vec![0; size + 2];
            reader.read_exact(&mut piece)?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&piece[..size]);
        }
    }
    if let Some(length) = head.content_length() {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

/// The next head; `None` at a clean end of stream.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end inside the head",
            ));
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    Ok(Some(Head {
        start: start.trim_end().to_string(),
        headers,
    }))
}

/// Reads one HTTP/1.1 message (request or response with a body framed by
/// Content-Length or chunked); `None` at a clean end of stream.
pub fn read_message(reader: &mut impl BufRead) -> io::Result<Option<Message>> {
    let Some(Head { start, headers }) = read_head(reader)? else {
        return Ok(None);
    };
    let head = Head { start, headers };
    let chunked = head.chunked();
    let mut body = read_framed_body(reader, &head)?;
    if !chunked
        && head.content_length().is_none()
        && reads_to_close(&head.start, head.header("connection").as_deref())
    {
        reader.read_to_end(&mut body)?;
    }
    let Head { start, headers } = head;
    Ok(Some((start, headers, body, chunked)))
}

/// A response without length that ends when the connection closes.
fn reads_to_close(start: &str, connection: Option<&str>) -> bool {
    let response = start.starts_with("HTTP/") && !start.starts_with("HTTP/1.1 101");
    let closing = start.starts_with("HTTP/1.0")
        || connection.is_some_and(|c| c.eq_ignore_ascii_case("close"));
    response && closing
}

/// A response as the client received it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub header_lines: Vec<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_lines.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection to the relay.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).expect("send to the relay");
    }

    /// The next response; `None` if the relay closed the connection.
    pub fn answer(&mut self) -> Option<Answer> {
        match read_message(&mut self.reader) {
            Ok(Some((start, header_lines, body, _))) => {
                let status = start.split(' ').nth(1)?.parse().ok()?;
                Some(Answer {
                    status,
                    header_lines,
                    body,
                })
            }
            _ => None,
        }
    }

    pub fn get(&mut self, path: &str) -> Answer {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.answer().expect("an answer")
    }

    /// Whether the relay closed the connection (reads return end of stream).
    pub fn closed(&mut self) -> bool {
        let mut byte = [0; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A relay on `port` using `http protocol p { PROTOCOL }` forwarding to
/// `backend`.
pub fn http_config(port: u16, backend: u16, protocol: &str) -> String {
    format!(
        "prefork 1\n\
         http protocol p {{\n{protocol}\n}}\n\
         relay web {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tprotocol p\n\
         \tforward to 127.0.0.1 port {backend}\n\
         }}\n"
    )
}
