//! HTTP/1.1 on the wire, written on std sockets so that every byte is what
//! the test chose (malformed requests included): heads and messages as
//! read, and a client connection to a relay.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A start line and its header lines, as read from the wire (case and
/// order kept).
#[derive(Debug, Clone)]
pub struct Head {
    pub start: String,
    pub headers: Vec<String>,
}

impl Head {
    /// The value of the first header field `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// The status code of a response head; 0 if it has none.
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

/// A request or a response: its head and its (unframed) body.
#[derive(Debug, Clone)]
pub struct HttpMessage {
    pub head: Head,
    pub body: Vec<u8>,
}

impl HttpMessage {
    /// The status code of a response.
    pub fn status(&self) -> u16 {
        self.head.status()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.header(name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
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

/// Reads one HTTP/1.1 message (request or response with a body framed by
/// Content-Length or chunked, or a closing response read to its end);
/// `None` at a clean end of stream.
pub fn read_message(reader: &mut impl BufRead) -> io::Result<Option<HttpMessage>> {
    let Some(head) = read_head(reader)? else {
        return Ok(None);
    };
    let mut body = read_framed_body(reader, &head)?;
    if !head.chunked() && head.content_length().is_none() && reads_to_close(&head) {
        reader.read_to_end(&mut body)?;
    }
    Ok(Some(HttpMessage { head, body }))
}

/// A response without length that ends when the connection closes.
fn reads_to_close(head: &Head) -> bool {
    let start = &head.start;
    let response = start.starts_with("HTTP/") && !start.starts_with("HTTP/1.1 101");
    let closing = start.starts_with("HTTP/1.0")
        || head
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    response && closing
}

/// A client connection to a relay on 127.0.0.1.
pub struct HttpClient {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl HttpClient {
    /// Connects to 127.0.0.1:`port`; reads time out after 20 s.
    pub fn connect(port: u16) -> HttpClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        HttpClient {
            reader: BufReader::new(stream.try_clone().expect("clone the client socket")),
            writer: stream,
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).expect("send to the relay");
    }

    /// The next response; `None` if the relay closed the connection (or
    /// sent something that is not one).
    pub fn answer(&mut self) -> Option<HttpMessage> {
        let answer = read_message(&mut self.reader).ok()??;
        answer.head.start.split(' ').nth(1)?.parse::<u16>().ok()?;
        Some(answer)
    }

    /// `GET path` with a Host header, and its answer.
    pub fn get(&mut self, path: &str) -> HttpMessage {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.answer().expect("an answer")
    }

    /// Whether the relay closed the connection (reads return end of stream).
    pub fn closed(&mut self) -> bool {
        let mut byte = [0; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}
