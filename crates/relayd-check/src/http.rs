//! `check http|https "path" [host "name"] code N | digest D`.
//!
//! The requests are relayd's: `HEAD path` for a code check, `GET path` for a
//! digest, HTTP/1.0 without a host name, HTTP/1.1 with `Host:` and
//! `Connection: close` with one.

use md5::Md5;
use relayd_config::HttpExpect;
use sha1::{Digest, Sha1};
use tokio::time::Instant;

use crate::exchange::{self, ResponseCheck};
use crate::{HostError, Target, Verdict};

pub(crate) async fn check(
    target: &Target,
    deadline: Instant,
    use_tls: bool,
    path: &str,
    host: Option<&str>,
    expect: &HttpExpect,
) -> Verdict {
    let method = match expect {
        HttpExpect::Code(_) => "HEAD",
        HttpExpect::Digest(_) => "GET",
    };
    let request = request(method, path, host);
    let mut code_check;
    let mut digest_check;
    let check: &mut (dyn ResponseCheck + Send) = match expect {
        HttpExpect::Code(code) => {
            code_check = CodeCheck { expected: *code };
            &mut code_check
        }
        HttpExpect::Digest(digest) => {
            digest_check = DigestCheck {
                expected: digest.to_ascii_lowercase(),
            };
            &mut digest_check
        }
    };
    exchange::run(target, deadline, use_tls, host, request.as_bytes(), check).await
}

/// The request relayd's parser builds for an http check.
pub fn request(method: &str, path: &str, host: Option<&str>) -> String {
    match host {
        Some(host) => {
            format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        }
        None => format!("{method} {path} HTTP/1.0\r\n\r\n"),
    }
}

struct CodeCheck {
    expected: u16,
}

impl ResponseCheck for CodeCheck {
    fn on_data(&mut self, received: &[u8]) -> Option<Verdict> {
        // The status line is all we need; relayd reads on to the close, to
        // the same verdict.
        received
            .contains(&b'\n')
            .then(|| judge_code(received, self.expected))
    }

    fn on_close(&mut self, received: &[u8]) -> Verdict {
        judge_code(received, self.expected)
    }
}

/// Compares the status code of `response` with `expected`, with relayd's
/// rules: `HTTP/1.0 ` or `HTTP/1.1 `, then three digits forming 100..=999.
pub(crate) fn judge_code(response: &[u8], expected: u16) -> Verdict {
    let malformed = Verdict::down(HostError::HttpCodeError);
    let Some(rest) = response
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| response.strip_prefix(b"HTTP/1.0 "))
    else {
        return malformed;
    };
    // Three digits and a line end, at least.
    if rest.len() < 5 {
        return malformed;
    }
    let digits = &rest[..3];
    if !digits.iter().all(u8::is_ascii_digit) {
        return malformed;
    }
    let code = digits
        .iter()
        .fold(0u16, |code, digit| code * 10 + u16::from(digit - b'0'));
    if code < 100 {
        return malformed;
    }
    let mut verdict = if code == expected {
        Verdict::up(HostError::HttpCodeOk)
    } else {
        Verdict::down(HostError::HttpCodeFail)
    };
    verdict.http_code = Some(code);
    verdict
}

struct DigestCheck {
    expected: String,
}

impl ResponseCheck for DigestCheck {
    fn on_data(&mut self, received: &[u8]) -> Option<Verdict> {
        // A server that says how long its body is need not close first.
        let body_start = find(received, b"\r\n\r\n")? + 4;
        let length = content_length(&received[..body_start])?;
        (received.len() - body_start >= length)
            .then(|| judge_digest(&received[body_start..body_start + length], &self.expected))
    }

    fn on_close(&mut self, received: &[u8]) -> Verdict {
        match find(received, b"\r\n\r\n") {
            Some(end) => {
                let body = &received[end + 4..];
                let body = match content_length(&received[..end + 4]) {
                    Some(length) if length < body.len() => &body[..length],
                    _ => body,
                };
                judge_digest(body, &self.expected)
            }
            None => Verdict::down(HostError::HttpDigestError),
        }
    }
}

/// Compares the digest of `body` with `expected` (lower-case hex): SHA-1
/// when it has 40 digits, MD5 otherwise, as relayd's `digest` keyword.
pub(crate) fn judge_digest(body: &[u8], expected: &str) -> Verdict {
    let actual = if expected.len() == 40 {
        hex(&Sha1::digest(body))
    } else {
        hex(&Md5::digest(body))
    };
    if actual == expected {
        Verdict::up(HostError::HttpDigestOk)
    } else {
        Verdict::down(HostError::HttpDigestFail)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The `Content-Length` of a header block, if it has a valid one.
fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_relayd() {
        assert_eq!(request("HEAD", "/", None), "HEAD / HTTP/1.0\r\n\r\n");
        assert_eq!(
            request("GET", "/x", Some("www")),
            "GET /x HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn code_rules() {
        let ok = judge_code(b"HTTP/1.1 200 OK\r\n", 200);
        assert!(ok.up);
        assert_eq!(ok.error, HostError::HttpCodeOk);
        assert_eq!(ok.http_code, Some(200));

        let mismatch = judge_code(b"HTTP/1.0 404 Not Found\r\n", 200);
        assert!(!mismatch.up);
        assert_eq!(mismatch.error, HostError::HttpCodeFail);
        assert_eq!(mismatch.http_code, Some(404));

        for malformed in [
            &b"SSH-2.0-x\r\n"[..],
            b"HTTP/2 200\r\n",
            b"HTTP/1.1 20\r\n",
            b"HTTP/1.1 2x0 OK\r\n",
            b"HTTP/1.1 099 x\r\n",
            b"",
        ] {
            let verdict = judge_code(malformed, 200);
            assert!(!verdict.up);
            assert_eq!(verdict.error, HostError::HttpCodeError, "{malformed:?}");
        }
    }

    #[test]
    fn digest_rules() {
        // sha1("hello") and md5("hello").
        let sha1 = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";
        let md5 = "5d41402abc4b2a76b9719d911017c592";
        assert!(judge_digest(b"hello", sha1).up);
        assert!(judge_digest(b"hello", md5).up);
        let wrong = judge_digest(b"hellO", sha1);
        assert_eq!(wrong.error, HostError::HttpDigestFail);
    }

    #[test]
    fn digest_with_content_length_needs_no_close() {
        let mut check = DigestCheck {
            expected: "5d41402abc4b2a76b9719d911017c592".into(),
        };
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
        assert_eq!(check.on_data(head), None);
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(check.on_data(full).map(|v| v.up), Some(true));
        assert_eq!(
            check.on_close(b"no header end").error,
            HostError::HttpDigestError
        );
    }
}
