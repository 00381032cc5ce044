//! The protocol's filter rules on one head: a request head's verdict and
//! rewritten bytes, a response head's rewritten bytes, or a block.

use super::edit;
use super::head::ResponseHead;
use super::message::Head;
use super::plan::HttpPlan;
use super::rules::{self, Endpoints, Marks, Message, Verdict};
use super::variables::Variables;
use http::header::{CONNECTION, HOST};
use http::HeaderValue;
use relayd_config::Direction;
use std::net::SocketAddr;
use std::time::Duration;

/// What the request rules made of a request.
pub enum Filtered {
    /// The protocol has no rules: the head goes out as it came.
    Unfiltered,
    Blocked,
    /// The rewritten head, and what the response rules will need.
    Passed {
        verdict: Verdict,
        head: Vec<u8>,
        variables: Variables,
    },
}

/// A rule blocked the message.
pub struct Blocked;

/// One session's view for the rules: its protocol, its ends, its marks.
pub struct Filter<'a> {
    http: &'a HttpPlan,
    peer: SocketAddr,
    listen: SocketAddr,
    timeout: Duration,
    /// Tag and label, kept across the session's requests.
    marks: &'a mut Marks,
}

impl<'a> Filter<'a> {
    pub fn new(
        http: &'a HttpPlan,
        peer: SocketAddr,
        listen: SocketAddr,
        timeout: Duration,
        marks: &'a mut Marks,
    ) -> Filter<'a> {
        Filter {
            http,
            peer,
            listen,
            timeout,
            marks,
        }
    }

    /// Runs the request rules, if the protocol has any, on `head` (the
    /// request head's bytes).
    pub fn request(&mut self, head: &[u8]) -> Filtered {
        if self.http.rules.is_empty() {
            return Filtered::Unfiltered;
        }
        let Some(mut request) = edit::Request::parse(head, &self.http.rules) else {
            return Filtered::Blocked;
        };
        let host = request
            .fields
            .map
            .get(HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .unwrap_or_default();
        let variables = Variables {
            host,
            remote: self.peer,
            server: self.listen,
            timeout_secs: self.timeout.as_secs(),
        };
        let mut message = Message {
            direction: Direction::Request,
            method: Some(&request.method),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: &mut request.fields.map,
        };
        let verdict = self.evaluate(&mut message, &variables);
        let path = message.path;
        if verdict.blocked {
            return Filtered::Blocked;
        }
        request.path = path;
        Filtered::Passed {
            verdict,
            head: request.write(),
            variables,
        }
    }

    /// The response head to send for `response` (whose bytes are `head`):
    /// rewritten by the response rules if the request went through them
    /// (`variables`), and saying `Connection: close` if `announce_close`.
    pub fn response(
        &mut self,
        response: &ResponseHead,
        head: &[u8],
        variables: Option<&Variables>,
        announce_close: bool,
    ) -> Result<Head, Blocked> {
        let Some(variables) = variables else {
            if !announce_close {
                return Ok(Head::Buffered(response.len));
            }
            return Ok(Head::Rewritten {
                len: response.len,
                bytes: with_connection_close(head),
            });
        };
        let Some(mut edited) = edit::Response::parse(head, &self.http.rules) else {
            return Err(Blocked);
        };
        let mut message = Message {
            direction: Direction::Response,
            method: None,
            path: String::new(),
            query: None,
            headers: &mut edited.fields.map,
        };
        if self.evaluate(&mut message, variables).blocked {
            return Err(Blocked);
        }
        if announce_close {
            edited
                .fields
                .map
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(Head::Rewritten {
            len: response.len,
            bytes: edited.write(),
        })
    }

    fn evaluate(&mut self, message: &mut Message, variables: &Variables) -> Verdict {
        let endpoints = Endpoints {
            client: self.peer.ip(),
            server: self.listen.ip(),
            variables,
        };
        rules::evaluate(&self.http.rules, message, &endpoints, self.marks)
    }
}

/// The field that ends a head announcing the close.
const CLOSE_FIELD: &[u8] = b"Connection: close\r\n\r\n";
/// Room for a small body read with the head, which `send_head` appends:
/// one allocation per answer instead of an allocation and a realloc.
const SMALL_BODY: usize = 512;

/// `head` with `Connection: close` added before its empty line.
fn with_connection_close(head: &[u8]) -> Vec<u8> {
    let body_start = if head.ends_with(b"\r\n\r\n") {
        head.len() - 2
    } else {
        head.len() - 1
    };
    let mut out = Vec::with_capacity(head.len() + CLOSE_FIELD.len() + SMALL_BODY);
    out.extend_from_slice(&head[..body_start]);
    out.extend_from_slice(CLOSE_FIELD);
    out
}
