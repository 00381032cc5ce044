//! One request of an HTTP session: the checks relayd makes before
//! anything is forwarded (header size, framing, Upgrade), then the request
//! goes to the session's backend connection and the answer streams back.

use super::backend::{reroute, Link, Route};
use super::error_page;
use super::rules::{self, Endpoints, Marks, Message};
use super::upgrade;
use super::variables::Variables;
use crate::relay::engine::Engine;
use crate::relay::plan::RelayPlan;
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{Request, Response, StatusCode, Uri};
use relayd_config::Direction;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the client receives: the backend's streamed body or a page made here.
pub type RelayBody = Either<Incoming, Full<Bytes>>;

/// Why the client connection is closed without an answer: relayd closes
/// a session it refuses unless the protocol has `return error`.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The state of one client connection shared by its requests.
pub struct Proxy {
    plan: Arc<RelayPlan>,
    /// The paired backend connection; requests on one client connection
    /// come one after the other, so the lock is never contended.
    backend: Mutex<Link>,
    engine: Arc<Engine>,
    session: u32,
    /// Tag and label set by the rules, kept across requests.
    marks: std::sync::Mutex<Marks>,
    peer: SocketAddr,
    listen: SocketAddr,
}

impl Proxy {
    pub fn new(
        engine: Arc<Engine>,
        session: u32,
        plan: Arc<RelayPlan>,
        backend: Link,
        peer: SocketAddr,
        listen: SocketAddr,
    ) -> Proxy {
        Proxy {
            engine,
            session,
            plan,
            backend: Mutex::new(backend),
            marks: std::sync::Mutex::new(Marks::default()),
            peer,
            listen,
        }
    }

    pub async fn handle(
        &self,
        mut request: Request<Incoming>,
    ) -> Result<Response<RelayBody>, Refused> {
        if let Some(refusal) = self.refusal(&request) {
            return refusal;
        }
        let filtering = !self.plan.rules.is_empty();
        let variables = filtering.then(|| self.variables(&request));
        let verdict = match &variables {
            Some(variables) => self.filter_request(&mut request, variables),
            None => rules::Verdict::default(),
        };
        if verdict.blocked {
            return self.abort(StatusCode::FORBIDDEN, "Forbidden", self.label().as_deref());
        }
        let client_upgrade =
            wants_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
        let mut response = match self.forward(request, &verdict).await {
            Ok(response) => response,
            Err(answer) => return answer,
        };
        if let Some(client_upgrade) = client_upgrade {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                let backend_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(upgrade::splice(client_upgrade, backend_upgrade));
            }
        }
        if backend_closes(response.headers()) {
            // One backend connection per client: when it goes, so does the client's.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(variables) = &variables {
            let mut message = Message {
                direction: Direction::Response,
                method: None,
                path: String::new(),
                query: None,
                headers: response.headers_mut(),
            };
            if self.evaluate(&mut message, variables).blocked {
                return self.abort(StatusCode::FORBIDDEN, "Forbidden", self.label().as_deref());
            }
        }
        Ok(response.map(Either::Left))
    }

    /// What is refused before the rules run: oversized headers (431),
    /// ambiguous framing (400), Upgrade without `http websockets`.
    fn refusal(&self, request: &Request<Incoming>) -> Option<Result<Response<RelayBody>, Refused>> {
        let headerlen = usize::try_from(self.plan.http.headerlen).unwrap_or(usize::MAX);
        if header_size(request) > headerlen {
            let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            return Some(Ok(local(error_page::bare(status))));
        }
        if ambiguous_framing(request.headers()) {
            return Some(Ok(local(error_page::bare(StatusCode::BAD_REQUEST))));
        }
        if wants_upgrade(request.headers()) && !self.plan.http.websockets {
            return Some(self.abort(StatusCode::FORBIDDEN, "Websocket Forbidden", None));
        }
        None
    }

    fn variables(&self, request: &Request<Incoming>) -> Variables {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        Variables {
            host: host.to_string(),
            remote: self.peer,
            server: self.listen,
            timeout_secs: self.plan.session_timeout.as_secs(),
        }
    }

    /// Sends the request to the session's backend (moving the session
    /// first if the rules route it elsewhere) and returns the answer.
    async fn forward(
        &self,
        request: Request<Incoming>,
        verdict: &rules::Verdict,
    ) -> Result<Response<Incoming>, Result<Response<RelayBody>, Refused>> {
        let mut backend = self.backend.lock().await;
        let route = Route {
            table: verdict.forward_to.as_deref(),
            hash: verdict.hash,
        };
        let rerouted = reroute(
            &self.engine,
            &self.plan,
            self.session,
            self.peer,
            self.listen,
            &backend,
            route,
        )
        .await;
        match rerouted {
            None => {}
            Some(Ok(link)) => {
                self.engine.session_moved(self.session, link.backend);
                *backend = link;
            }
            Some(Err(why)) => {
                tracing::debug!("relay {}: {why}", self.plan.name);
                return Err(self.abort(StatusCode::SERVICE_UNAVAILABLE, "no backend", None));
            }
        }
        let sender = &mut backend.sender;
        if sender.ready().await.is_err() {
            let closed = "backend connection closed";
            return Err(self.abort(StatusCode::BAD_GATEWAY, closed, None));
        }
        sender.send_request(request).await.map_err(|e| {
            tracing::debug!("relay {}: backend request failed: {e}", self.plan.name);
            self.abort(StatusCode::BAD_GATEWAY, "backend request failed", None)
        })
    }

    /// Runs the request rules. A rewritten path goes into the request's
    /// URI.
    fn filter_request(
        &self,
        request: &mut Request<Incoming>,
        variables: &Variables,
    ) -> rules::Verdict {
        let method = request.method().as_str().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().map(str::to_string);
        let (verdict, new_path) = {
            let mut message = Message {
                direction: Direction::Request,
                method: Some(&method),
                path: path.clone(),
                query: query.clone(),
                headers: request.headers_mut(),
            };
            let verdict = self.evaluate(&mut message, variables);
            (verdict, message.path)
        };
        if !verdict.blocked && new_path != path {
            let rebuilt = match &query {
                Some(query) => format!("{new_path}?{query}"),
                None => new_path,
            };
            match rebuilt.parse::<Uri>() {
                Ok(uri) => *request.uri_mut() = uri,
                Err(e) => tracing::warn!("relay {}: rewritten path {e}", self.plan.name),
            }
        }
        verdict
    }

    fn evaluate(&self, message: &mut Message, variables: &Variables) -> rules::Verdict {
        let endpoints = Endpoints {
            client: self.peer.ip(),
            server: self.listen.ip(),
            variables,
        };
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        rules::evaluate(&self.plan.rules, message, &endpoints, &mut marks)
    }

    fn label(&self) -> Option<String> {
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks.label.clone()
    }

    /// relayd's `relay_abort_http`: an error page with `return error`,
    /// otherwise the connection closes without an answer.
    fn abort(
        &self,
        status: StatusCode,
        message: &str,
        label: Option<&str>,
    ) -> Result<Response<RelayBody>, Refused> {
        match &self.plan.return_error {
            Some(how) => Ok(local(error_page::page(
                status,
                message,
                label,
                how.style.as_deref(),
                self.listen,
            ))),
            None => Err(Refused(format!(
                "{message} ({} {})",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ))),
        }
    }
}

fn local(response: Response<Full<Bytes>>) -> Response<RelayBody> {
    response.map(Either::Right)
}

/// The size of the request line and header as sent (name, value, `: `
/// and CRLF per field), which `http { headerlen }` limits.
fn header_size(request: &Request<Incoming>) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |p| p.as_str().len())
        + request.uri().authority().map_or(0, |a| a.as_str().len());
    let line = request.method().as_str().len() + target + 11;
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// Content-Length beside Transfer-Encoding is the classic smuggling shape:
/// two parsers may disagree on where the body ends, so it is refused.
fn ambiguous_framing(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH)
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE) && connection_has(headers, "upgrade")
}

fn backend_closes(headers: &HeaderMap) -> bool {
    connection_has(headers, "close")
}

fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(CONNECTION).iter().any(|value| {
        value
            .to_str()
            .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}
