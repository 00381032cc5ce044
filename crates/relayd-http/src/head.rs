//! Parsing request and response heads in place (httparse, the parser
//! hyper uses) and deciding, strictly, how the body that follows is
//! framed. Anything two parsers could read differently is refused here,
//! before a byte reaches the other side: Content-Length beside
//! Transfer-Encoding, differing or malformed lengths, a final transfer
//! coding other than chunked (judged over every Transfer-Encoding field
//! as one list), underscore look-alikes of the framing fields, a missing,
//! duplicate or invalid Host, obs-fold, bare CR, and a head with a bare
//! LF (a backend that ends lines only at CRLF would read another request
//! there; a client, another response or another body length).

use crate::target::{self, Form};
use http::Method;
use std::mem::MaybeUninit;

/// More header fields than any sane client sends (HAProxy allows 101).
pub const MAX_HEADERS: usize = 100;

/// How the body after a head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// A response body that ends when the backend closes.
    UntilClose,
}

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Longer than `http { headerlen }`.
    #[error("request header too long")]
    TooLarge,
    #[error("too many header fields")]
    TooManyFields,
    #[error("{0}")]
    Malformed(&'static str),
    /// An absolute-form target whose host is not the Host field's.
    #[error("malformed host")]
    HostMismatch,
}

pub struct RequestHead {
    /// Bytes up to and including the empty line.
    pub len: usize,
    pub method: Method,
    pub framing: Framing,
    /// The client may send another request after this one.
    pub keep_alive: bool,
    /// `Upgrade` with `Connection: upgrade`.
    pub upgrade: bool,
}

pub struct ResponseHead {
    pub len: usize,
    pub status: u16,
    pub framing: Framing,
    /// The backend keeps the connection open after this response.
    pub keep_alive: bool,
    /// The response says `Connection: close` itself.
    pub says_close: bool,
}

/// What the framing headers of one message said.
#[derive(Default)]
struct Fields<'h> {
    content_length: Option<u64>,
    /// Some Transfer-Encoding field was present.
    transfer_encoding: bool,
    /// Codings seen over every Transfer-Encoding field, as one list.
    codings: usize,
    chunked_last: bool,
    close: bool,
    keep_alive: bool,
    connection_upgrade: bool,
    upgrade: bool,
    hosts: usize,
    host: Option<&'h [u8]>,
}

impl<'h> Fields<'h> {
    fn read(headers: &[httparse::Header<'h>]) -> Result<Fields<'h>, HeadError> {
        let mut fields = Fields::default();
        for header in headers {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let length = parse_length(header.value)?;
                if fields.content_length.is_some_and(|seen| seen != length) {
                    return Err(HeadError::Malformed("differing Content-Length"));
                }
                fields.content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                fields.transfer_encoding = true;
                fields.add_codings(header.value)?;
            } else if name.eq_ignore_ascii_case("connection") {
                for token in tokens(header.value) {
                    fields.close |= token.eq_ignore_ascii_case(b"close");
                    fields.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    fields.connection_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                }
            } else if name.eq_ignore_ascii_case("upgrade") {
                fields.upgrade = true;
            } else if name.eq_ignore_ascii_case("host") {
                fields.hosts += 1;
                fields.host = Some(header.value);
            } else if framing_look_alike(name) {
                return Err(HeadError::Malformed(
                    "underscore look-alike of a framing field",
                ));
            }
        }
        if fields.transfer_encoding && fields.codings == 0 {
            return Err(HeadError::Malformed("empty Transfer-Encoding"));
        }
        Ok(fields)
    }

    /// Adds one field's codings to the list of every field before it
    /// (RFC 9110 5.3: the fields combine into one list); `chunked` must
    /// be the last of all, and only once.
    fn add_codings(&mut self, value: &[u8]) -> Result<(), HeadError> {
        for coding in tokens(value) {
            if self.chunked_last {
                return Err(HeadError::Malformed("chunked is not the last coding"));
            }
            self.chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            self.codings += 1;
        }
        Ok(())
    }

    fn keep_alive(&self, http11: bool) -> bool {
        !self.close && (http11 || self.keep_alive)
    }
}

/// `Content_Length`, `transfer_encoding`: names that CGI-style backends
/// (which turn `-` into `_`) read as the framing fields.
fn framing_look_alike(name: &str) -> bool {
    let spelled = |framing: &str| {
        name.len() == framing.len()
            && name
                .bytes()
                .zip(framing.bytes())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b) || (a == b'_' && b == b'-'))
    };
    name.contains('_') && (spelled("content-length") || spelled("transfer-encoding"))
}

/// Whether every LF of `head` ends a CRLF.
fn lines_end_in_crlf(head: &[u8]) -> bool {
    let Some((&first, rest)) = head.split_first() else {
        return true;
    };
    // Each byte with the one before it, without an early exit, so that
    // the loop vectorises: heads are short and almost always well formed,
    // and a byte-at-a-time scan showed in the profiles of short requests.
    let bare = rest.iter().zip(head).fold(false, |bare, (&b, &before)| {
        bare | ((b == b'\n') & (before != b'\r'))
    });
    first != b'\n' && !bare
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// Only plain digits: no sign, no list, no spaces inside.
fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::Malformed("invalid Content-Length"));
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Room for a head's fields that httparse fills in; left uninitialised,
/// because zeroing `MAX_HEADERS` fields (3.2 KB) per head showed in the
/// profiles of short requests.
pub fn uninit_headers<'b>() -> [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS] {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

fn refusal(error: httparse::Error) -> HeadError {
    match error {
        httparse::Error::TooManyHeaders => HeadError::TooManyFields,
        httparse::Error::HeaderName => HeadError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Malformed("invalid header value"),
        httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
        httparse::Error::Version => HeadError::Malformed("invalid HTTP version"),
        httparse::Error::Token => HeadError::Malformed("invalid token"),
        httparse::Error::Status => HeadError::Malformed("invalid status"),
    }
}

/// Parses a request head at the start of `buffer`; `Ok(None)` while it
/// is incomplete and within `limit` bytes.
pub fn parse_request(buffer: &[u8], limit: usize) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = uninit_headers();
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buffer, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer.len() > limit => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(refusal(e)),
    };
    if len > limit {
        return Err(HeadError::TooLarge);
    }
    if !lines_end_in_crlf(&buffer[..len]) {
        return Err(HeadError::Malformed("bare LF in the head"));
    }
    let http11 = request.version == Some(1);
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(HeadError::Malformed("invalid method"))?;
    let fields = Fields::read(request.headers)?;
    if fields.hosts > 1 {
        return Err(HeadError::Malformed("more than one Host"));
    }
    if fields.host.is_some_and(|host| !target::valid_host(host)) {
        return Err(HeadError::Malformed("invalid Host"));
    }
    if http11 && fields.host.is_none() {
        return Err(HeadError::Malformed("HTTP/1.1 without Host"));
    }
    let target = request.path.unwrap_or("");
    match target::form(target, method == Method::CONNECT) {
        None => return Err(HeadError::Malformed("invalid request target")),
        Some(Form::Absolute { authority }) => {
            let host = fields.host.unwrap_or(authority.as_bytes());
            if !host.eq_ignore_ascii_case(authority.as_bytes()) {
                return Err(HeadError::HostMismatch);
            }
        }
        Some(Form::Origin | Form::Asterisk | Form::Authority) => {}
    }
    let framing = match (fields.transfer_encoding, fields.content_length) {
        (true, Some(_)) => {
            return Err(HeadError::Malformed(
                "Content-Length with Transfer-Encoding",
            ))
        }
        (true, None) if !http11 => {
            return Err(HeadError::Malformed("HTTP/1.0 with Transfer-Encoding"))
        }
        (true, None) if !fields.chunked_last => {
            return Err(HeadError::Malformed(
                "Transfer-Encoding not ending in chunked",
            ))
        }
        (true, None) => Framing::Chunked,
        (false, Some(0) | None) => Framing::Empty,
        (false, Some(n)) => Framing::Length(n),
    };
    Ok(Some(RequestHead {
        len,
        method,
        framing,
        keep_alive: fields.keep_alive(http11),
        upgrade: fields.upgrade && fields.connection_upgrade,
    }))
}

/// Parses a response head to a request made with `method`.
pub fn parse_response(
    buffer: &[u8],
    limit: usize,
    method: &Method,
) -> Result<Option<ResponseHead>, HeadError> {
    let mut headers = uninit_headers();
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buffer,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer.len() > limit => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(refusal(e)),
    };
    // As for requests: forwarded as received, a bare LF would let the
    // client read other fields (another framing) than the relay did.
    if !lines_end_in_crlf(&buffer[..len]) {
        return Err(HeadError::Malformed("bare LF in the head"));
    }
    let http11 = response.version == Some(1);
    let status = response.code.unwrap_or(0);
    let fields = Fields::read(response.headers)?;
    let bodiless = *method == Method::HEAD || status < 200 || status == 204 || status == 304;
    let framing = if bodiless {
        Framing::Empty
    } else if fields.transfer_encoding {
        // RFC 9112 6.3: Transfer-Encoding overrides Content-Length.
        if fields.chunked_last {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match fields.content_length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    Ok(Some(ResponseHead {
        len,
        status,
        framing,
        keep_alive: fields.keep_alive(http11) && framing != Framing::UntilClose,
        says_close: fields.close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Result<Option<RequestHead>, HeadError> {
        parse_request(text.as_bytes(), 8192)
    }

    #[test]
    fn framing_follows_the_headers() {
        let head = request("POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Length(12));
        assert!(head.keep_alive);
        let head =
            request("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(head.framing, Framing::Chunked);
        let head = request("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive);
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for text in [
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4, 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\rHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: t\r\nBad Name: a\r\n\r\n",
        ] {
            assert!(
                matches!(request(text), Err(HeadError::Malformed(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn framing_fields_are_judged_as_one_list() {
        for text in [
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: ,\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\ncontent_length: 5\r\n\r\n",
        ] {
            assert!(matches!(request(text), Err(HeadError::Malformed(_))), "{text:?}");
        }
        let split = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(request(split).unwrap().unwrap().framing, Framing::Chunked);
        let other = "GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: a\r\n\r\n";
        assert!(request(other).unwrap().is_some());
    }

    #[test]
    fn bare_lf_and_bad_hosts_are_refused() {
        for text in [
            "GET / HTTP/1.1\nHost: x\n\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: y\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert!(
                matches!(request(text), Err(HeadError::Malformed(_))),
                "{text:?}"
            );
        }
        let other = "GET http://y/ HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(request(other).err(), Some(HeadError::HostMismatch));
        for good in [
            "GET http://X:80/a HTTP/1.1\r\nHost: x:80\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://x/ HTTP/1.0\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: \r\n\r\n",
        ] {
            assert!(request(good).unwrap().is_some(), "{good:?}");
        }
    }

    #[test]
    fn limits_are_enforced_before_the_head_is_complete() {
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000));
        assert_eq!(request(&long).err(), Some(HeadError::TooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(request(&text).err(), Some(HeadError::TooManyFields));
        assert!(request("GET / HTTP/1.1\r\nHost:").unwrap().is_none());
    }

    #[test]
    fn response_bodies_depend_on_method_and_status() {
        let parse = |text: &str, method: Method| {
            parse_response(text.as_bytes(), 8192, &method)
                .unwrap()
                .unwrap()
        };
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(ok, Method::GET).framing, Framing::Length(5));
        assert_eq!(parse(ok, Method::HEAD).framing, Framing::Empty);
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(both, Method::GET).framing, Framing::Chunked);
        let open = parse("HTTP/1.1 200 OK\r\n\r\n", Method::GET);
        assert_eq!(open.framing, Framing::UntilClose);
        assert!(!open.keep_alive);
        let closing = parse(
            "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
            Method::GET,
        );
        assert_eq!(closing.framing, Framing::Empty);
        assert!(closing.says_close && !closing.keep_alive);
    }

    #[test]
    fn a_bare_lf_is_found_anywhere_in_a_head() {
        assert!(lines_end_in_crlf(b""));
        assert!(lines_end_in_crlf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!lines_end_in_crlf(b"\nGET"));
        assert!(!lines_end_in_crlf(b"\r\n\n"));
        let mut long = b"X: y\r\n".repeat(40);
        assert!(lines_end_in_crlf(&long));
        long[150] = b'\n';
        assert!(!lines_end_in_crlf(&long));
    }

    #[test]
    fn response_heads_with_a_bare_lf_are_refused() {
        let bare = HeadError::Malformed("bare LF in the head");
        for text in [
            "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
            "HTTP/1.1 200 OK\r\nX: y\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
        ] {
            let parsed = parse_response(text.as_bytes(), 8192, &Method::GET);
            assert_eq!(parsed.err(), Some(bare), "{text:?}");
        }
        // A bare LF in the body is not the head's business.
        let body = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\n\n";
        let head = parse_response(body.as_bytes(), 8192, &Method::GET).unwrap();
        assert_eq!(head.map(|h| h.framing), Some(Framing::Length(2)));
    }
}
