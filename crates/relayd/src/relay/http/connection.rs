//! The request's `Connection: close` kept from the backend when backend
//! connections are pooled (`http { reuse }`): the client's session still
//! ends after the answer, but the backend connection may serve the next
//! client. HAProxy does the same.

/// `head`, a complete HTTP/1.1 request head, without the `close` option
/// of its Connection fields; a field left with no option goes. `None`
/// when there is no `close` to take out, or the request is not HTTP/1.1
/// (an HTTP/1.0 connection persists only with `keep-alive`).
pub fn without_close(head: &[u8]) -> Option<Vec<u8>> {
    let mut headers = relayd_http::head::uninit_headers();
    let mut request = httparse::Request::new(&mut []);
    request.parse_with_uninit_headers(head, &mut headers).ok()?;
    if request.version != Some(1) {
        return None;
    }
    let base = head.as_ptr() as usize;
    let mut out = Vec::new();
    let mut copied = 0;
    let mut found = false;
    for header in request.headers.iter() {
        if !header.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        let options = || {
            header
                .value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|t| !t.is_empty())
        };
        if !options().any(|t| t.eq_ignore_ascii_case(b"close")) {
            continue;
        }
        if !found {
            out.reserve(head.len());
            found = true;
        }
        // A field is one line (obs-fold is refused before this).
        let start = header.name.as_ptr() as usize - base;
        let end = head[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |n| start + n + 1);
        out.extend_from_slice(&head[copied..start]);
        let mut kept = options().filter(|t| !t.eq_ignore_ascii_case(b"close"));
        if let Some(first) = kept.next() {
            out.extend_from_slice(header.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(first);
            for option in kept {
                out.extend_from_slice(b", ");
                out.extend_from_slice(option);
            }
            out.extend_from_slice(b"\r\n");
        }
        copied = end;
    }
    if !found {
        return None;
    }
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
