//! The request's `Connection: close` kept from the backend when backend
//! connections are pooled (`http { reuse }`): the client's session still
//! ends after the answer, but the backend connection may serve the next
//! client. HAProxy does the same.

/// `head`, a complete HTTP/1.1 request head, without the `close` option
/// of its Connection fields; a field left with no option goes. `None`
/// when there is no `close` to take out, or the request is not HTTP/1.1
/// (an HTTP/1.0 connection persists only with `keep-alive`).
///
/// `head` was parsed and checked already (`relayd_http::head`: every line
/// ends in CRLF, no folded lines, field names are tokens), so its lines
/// are walked as they are rather than parsed a second time.
pub fn without_close(head: &[u8]) -> Option<Vec<u8>> {
    let mut lines = head.split_inclusive(|&b| b == b'\n');
    let request_line = lines.next()?;
    if !request_line.ends_with(b" HTTP/1.1\r\n") {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = request_line.len();
    for line in lines {
        let start = at;
        at += line.len();
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if !name.eq_ignore_ascii_case(b"connection") {
            continue;
        }
        let options = || {
            value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|t| !t.is_empty())
        };
        if !options().any(|t| t.eq_ignore_ascii_case(b"close")) {
            continue;
        }
        let out = out.get_or_insert_with(|| Vec::with_capacity(head.len()));
        out.extend_from_slice(&head[copied..start]);
        let mut kept = options().filter(|t| !t.eq_ignore_ascii_case(b"close"));
        if let Some(first) = kept.next() {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(first);
            for option in kept {
                out.extend_from_slice(b", ");
                out.extend_from_slice(option);
            }
            out.extend_from_slice(b"\r\n");
        }
        copied = at;
    }
    let mut out = out?;
    out.extend_from_slice(&head[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(head: &str) -> Option<String> {
        without_close(head.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn close_leaves_the_request_and_the_other_options_stay() {
        assert_eq!(
            text("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: 1\r\n\r\n").as_deref(),
            Some("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n")
        );
        assert_eq!(
            text("GET / HTTP/1.1\r\nconnection: TE, Close\r\nTE: trailers\r\n\r\n").as_deref(),
            Some("GET / HTTP/1.1\r\nconnection: TE\r\nTE: trailers\r\n\r\n")
        );
        assert_eq!(
            text("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_deref(),
            Some("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        );
        // Colons in the target and in other values are not field names.
        assert_eq!(
            text("GET http://a:80/ HTTP/1.1\r\nHost: a:80\r\nX: connection: close\r\nConnection:close\r\n\r\n")
                .as_deref(),
            Some("GET http://a:80/ HTTP/1.1\r\nHost: a:80\r\nX: connection: close\r\n\r\n")
        );
    }

    #[test]
    fn nothing_to_take_out_or_http_1_0_is_left_alone() {
        assert_eq!(text("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
        assert_eq!(
            text("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"),
            None
        );
        assert_eq!(text("GET / HTTP/1.0\r\nConnection: close\r\n\r\n"), None);
    }
}
