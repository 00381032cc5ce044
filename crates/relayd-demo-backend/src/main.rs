//! relayd-demo-backend: the two halves of the README demo, so it needs
//! nothing beyond what the workspace builds.
//!
//! `relayd-demo-backend serve ADDR:PORT NAME` answers every HTTP request
//! with `hello from NAME`; `relayd-demo-backend get ADDR:PORT COUNT` sends
//! COUNT requests, one connection each, and prints each answer's body, so
//! the demo shows which backend served which request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: relayd-demo-backend serve ADDR:PORT NAME\n       relayd-demo-backend get ADDR:PORT COUNT";
/// Bounds a misbehaving peer: the demo must never hang.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The most header bytes a request may carry before we give up on it.
const MAX_HEADER: usize = 16 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", addr, name] => parse_addr(addr).and_then(|a| serve(a, name)),
        ["get", addr, count] => parse_addr(addr).and_then(|a| {
            let count = count.parse().map_err(|_| format!("bad COUNT {count}"))?;
            get(a, count)
        }),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("relayd-demo-backend: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("bad ADDR:PORT {text}"))
}

fn serve(addr: SocketAddr, name: &str) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let body = format!("hello from {name}\n");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let body = body.clone();
        std::thread::spawn(move || {
            // A peer that goes away mid-request is not the demo's concern.
            let _ = answer(stream, &body);
        });
    }
    Ok(())
}

/// Answers requests on one connection until the client closes it; health
/// checks that connect and close without a request end here quietly.
fn answer(stream: TcpStream, body: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut header_bytes = 0;
        let mut saw_request_line = false;
        let mut close = false;
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                return Ok(());
            }
            header_bytes += n;
            if header_bytes > MAX_HEADER {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            saw_request_line = true;
            close |= line.to_ascii_lowercase().starts_with("connection: close");
        }
        if !saw_request_line {
            continue;
        }
        // A server that closes after this answer says so (RFC 9112,
        // 9.6): without it an HTTP/1.1 client takes the connection as
        // kept alive and counts the close as a failure (wrk's read
        // errors). One write, so Nagle never holds back a second segment.
        let connection = if close { "Connection: close\r\n" } else { "" };
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{connection}\r\n{body}",
            body.len(),
        );
        writer.write_all(answer.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

fn get(addr: SocketAddr, count: u32) -> Result<(), String> {
    for i in 1..=count {
        let body = fetch(addr).map_err(|e| format!("request {i} to {addr}: {e}"))?;
        print!("request {i}: {body}");
    }
    Ok(())
}

fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.take(64 * 1024).read_to_string(&mut response)?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .ok_or_else(|| std::io::Error::other("no HTTP response"))?;
    Ok(body)
}
