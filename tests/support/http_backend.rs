//! The HTTP/1.1 backend of the relay tests, on std sockets. It answers
//! every request with `X-Backend` (its name), `X-Connection` (which
//! accepted connection) and `X-Request` (which request on it), and a body
//! that depends on the path: `/echo` sends the request body back (same
//! framing), `/download/N` sends N [`pattern`] bytes (seed 3) chunked,
//! `/close` answers with `Connection: close`, `/die` sends part of a body
//! and closes the connection, anything else lists the header lines it
//! received exactly as written. An Upgrade request gets `101` and then an
//! echo of raw bytes. Every request it read is kept for the test to see.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::data::PatternPieces;
use crate::http::{read_message, HttpMessage};

pub struct HttpBackend {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<HttpMessage>>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HttpBackend {
    /// A backend named `name` on a free port of 127.0.0.1.
    pub fn start(name: &str) -> HttpBackend {
        Self::start_on("127.0.0.1:0", name)
    }

    /// A backend listening on `addr` (e.g. `127.0.0.2:PORT`).
    pub fn start_on(addr: &str, name: &str) -> HttpBackend {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().expect("backend address");
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
                    if let Ok(copy) = stream.try_clone() {
                        lock(&streams).push(copy);
                    }
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

    /// Connections accepted so far.
    pub fn accepted(&self) -> u32 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The requests read so far, in order.
    pub fn seen(&self) -> Vec<HttpMessage> {
        lock(&self.seen).clone()
    }

    /// The request lines read so far, in order.
    pub fn request_lines(&self) -> Vec<String> {
        self.seen().into_iter().map(|r| r.head.start).collect()
    }

    /// Closes every connection it has open, like a crashed server.
    pub fn drop_connections(&self) {
        for stream in lock(&self.streams).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
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

/// A lock that a panicking connection thread did not spoil.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn serve(
    stream: TcpStream,
    name: &str,
    connection: u32,
    seen: &Mutex<Vec<HttpMessage>>,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut number = 0;
    while let Some(request) = read_message(&mut reader)? {
        number += 1;
        lock(seen).push(request.clone());
        let HttpMessage { head, body } = request;
        let path = head.start.split(' ').nth(1).unwrap_or("/").to_string();
        let common =
            format!("X-Backend: {name}\r\nX-Connection: {connection}\r\nX-Request: {number}\r\n");
        if head.header("upgrade").is_some() {
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
            if head.chunked() {
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n"
                )?;
                write_chunked(&mut writer, &body, 10_000)?;
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
            return writer.shutdown(Shutdown::Both);
        } else if let Some(size) = path.strip_prefix("/download/") {
            let size: usize = size.parse().unwrap_or(0);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n"
            )?;
            // Sent as it is made: a body made whole first could take longer
            // than a test's session timeout on a loaded machine.
            for piece in PatternPieces::new(size, 3, 65_536) {
                write_chunk(&mut writer, &piece)?;
            }
            writer.write_all(b"0\r\n\r\n")?;
        } else {
            let listing = head.headers.join("\n");
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
    Ok(())
}

/// `body` in chunks of at most `piece` bytes, and the last chunk.
fn write_chunked(writer: &mut impl Write, body: &[u8], piece: usize) -> io::Result<()> {
    for chunk in body.chunks(piece) {
        write_chunk(writer, chunk)?;
    }
    writer.write_all(b"0\r\n\r\n")
}

/// One chunk of a chunked body.
fn write_chunk(writer: &mut impl Write, chunk: &[u8]) -> io::Result<()> {
    write!(writer, "{:x}\r\n", chunk.len())?;
    writer.write_all(chunk)?;
    writer.write_all(b"\r\n")
}
