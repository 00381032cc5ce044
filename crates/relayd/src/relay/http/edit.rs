//! Heads the filter rules may change: parsed into an `http::HeaderMap`
//! for the rules, then written out again with every field name spelled
//! as it came in (or as the rule spelled it), so backends and clients see
//! the case they would have seen without the relay. The framing fields
//! (Content-Length, Transfer-Encoding) go out as they came in whatever
//! the rules did: the relay frames the body by them. The path is the
//! canonical one (`relayd_http::target`): the rules match it and the
//! backend gets it, so a rule cannot be passed by spelling a path
//! another way.

use super::head::uninit_headers;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use relayd_config::{EntityKey, EntityKind, EntityOption, FilterRule};
use relayd_http::target;
use std::collections::HashMap;

/// The header fields of one head and how their names were spelled.
pub struct Fields {
    pub map: HeaderMap,
    spelling: HashMap<HeaderName, String>,
    framing: Vec<(HeaderName, HeaderValue)>,
}

impl Fields {
    fn new(headers: &[httparse::Header], rules: &[FilterRule]) -> Fields {
        let mut fields = Fields {
            map: HeaderMap::with_capacity(headers.len()),
            spelling: HashMap::new(),
            framing: Vec::new(),
        };
        for header in headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(header.name.as_bytes()),
                HeaderValue::from_bytes(header.value),
            ) else {
                continue;
            };
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                fields.framing.push((name.clone(), value.clone()));
            }
            fields.remember(&name, header.name);
            fields.map.append(name, value);
        }
        for key in added_names(rules) {
            if let Ok(name) = HeaderName::from_bytes(key.as_bytes()) {
                fields.remember(&name, key);
            }
        }
        fields
    }

    fn remember(&mut self, name: &HeaderName, spelled: &str) {
        if name.as_str() != spelled && !self.spelling.contains_key(name) {
            self.spelling.insert(name.clone(), spelled.to_string());
        }
    }

    fn write(mut self, out: &mut Vec<u8>) {
        self.map.remove(CONTENT_LENGTH);
        self.map.remove(TRANSFER_ENCODING);
        for (name, value) in self.framing.drain(..) {
            self.map.append(name, value);
        }
        for (name, value) in &self.map {
            let spelled = self
                .spelling
                .get(name)
                .map_or(name.as_str(), String::as_str);
            out.extend_from_slice(spelled.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Header names that `set`/`append` actions may add.
fn added_names(rules: &[FilterRule]) -> impl Iterator<Item = &str> {
    rules
        .iter()
        .flat_map(|rule| rule.entities.iter())
        .filter(|e| {
            e.kind == EntityKind::Header
                && matches!(e.option, Some(EntityOption::Set | EntityOption::Append))
        })
        .filter_map(|e| match &e.key {
            Some(EntityKey::Value(key)) => Some(key.as_str()),
            _ => None,
        })
}

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    http11: bool,
    pub fields: Fields,
}

impl Request {
    /// `head` is a complete request head, already checked by `head`.
    pub fn parse(head: &[u8], rules: &[FilterRule]) -> Option<Request> {
        let mut headers = uninit_headers();
        let mut request = httparse::Request::new(&mut []);
        request.parse_with_uninit_headers(head, &mut headers).ok()?;
        let (path, query) = target::path_and_query(request.path?);
        Some(Request {
            method: request.method?.to_string(),
            path: target::canonical_path(path),
            query: query.map(str::to_string),
            http11: request.version == Some(1),
            fields: Fields::new(request.headers, rules),
        })
    }

    pub fn write(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path.as_bytes());
        if let Some(query) = &self.query {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
        out.extend_from_slice(if self.http11 {
            b" HTTP/1.1\r\n"
        } else {
            b" HTTP/1.0\r\n"
        });
        self.fields.write(&mut out);
        out
    }
}

pub struct Response {
    /// The status line as the backend sent it, CRLF included.
    status_line: Vec<u8>,
    pub fields: Fields,
}

impl Response {
    pub fn parse(head: &[u8], rules: &[FilterRule]) -> Option<Response> {
        let mut headers = uninit_headers();
        let mut response = httparse::Response::new(&mut []);
        httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut response, head, &mut headers)
            .ok()?;
        let line_end = head.iter().position(|&b| b == b'\n')? + 1;
        Some(Response {
            status_line: head[..line_end].to_vec(),
            fields: Fields::new(response.headers, rules),
        })
    }

    pub fn write(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.status_line);
        self.fields.write(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_keep_their_spelling_and_framing_cannot_change() {
        let head = b"POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-MiXed: 1\r\nContent-Length: 3\r\n\r\n";
        let mut request = Request::parse(head, &[]).unwrap();
        assert_eq!(
            (request.path.as_str(), request.query.as_deref()),
            ("/a/b", Some("x=1"))
        );
        request.path = "/c".into();
        request.fields.map.remove(CONTENT_LENGTH);
        request
            .fields
            .map
            .insert("x-mixed", HeaderValue::from_static("2"));
        let text = String::from_utf8(request.write()).unwrap();
        assert!(text.starts_with("POST /c?x=1 HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("X-MiXed: 2\r\n"), "{text}");
        assert!(text.contains("Content-Length: 3\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }
}
