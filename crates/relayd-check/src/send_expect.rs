//! `check send DATA expect PATTERN [tls]` and its binary form
//! `check binary send HEX expect HEX [tls]`.

use tokio::time::Instant;

use crate::exchange::{self, ResponseCheck};
use crate::fnmatch::fnmatch;
use crate::{HostError, Target, Verdict};

/// Sends `send` (nothing when empty: the server speaks first) and waits for
/// everything received to match the glob `expect`. As in relayd, `send`
/// goes out as written and only `expect` has its `\n`/`\r` escapes
/// translated.
pub(crate) async fn check_text(
    target: &Target,
    deadline: Instant,
    use_tls: bool,
    send: &str,
    expect: &str,
) -> Verdict {
    let pattern = translate_escapes(expect);
    let mut check = GlobCheck {
        pattern: pattern.as_bytes(),
    };
    exchange::run(target, deadline, use_tls, None, send.as_bytes(), &mut check).await
}

/// relayd's `translate_string`: `\n` and `\r` become line breaks, `\X`
/// becomes `X`.
fn translate_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Sends `send` and compares the first `expect.len()` bytes received.
pub(crate) async fn check_binary(
    target: &Target,
    deadline: Instant,
    use_tls: bool,
    send: &[u8],
    expect: &[u8],
) -> Verdict {
    let mut check = PrefixCheck { expected: expect };
    exchange::run(target, deadline, use_tls, None, send, &mut check).await
}

struct GlobCheck<'a> {
    pattern: &'a [u8],
}

impl ResponseCheck for GlobCheck<'_> {
    fn on_data(&mut self, received: &[u8]) -> Option<Verdict> {
        // No match yet may become one with more data: keep reading.
        fnmatch(self.pattern, received).then(|| Verdict::up(HostError::SendExpectOk))
    }

    fn on_close(&mut self, received: &[u8]) -> Verdict {
        if fnmatch(self.pattern, received) {
            Verdict::up(HostError::SendExpectOk)
        } else {
            Verdict::down(HostError::SendExpectFail)
        }
    }
}

struct PrefixCheck<'a> {
    expected: &'a [u8],
}

impl ResponseCheck for PrefixCheck<'_> {
    fn on_data(&mut self, received: &[u8]) -> Option<Verdict> {
        // Once the prefix is in, more data cannot change the verdict.
        (received.len() >= self.expected.len()).then(|| self.on_close(received))
    }

    fn on_close(&mut self, received: &[u8]) -> Verdict {
        if received.starts_with(self.expected) {
            Verdict::up(HostError::SendExpectOk)
        } else {
            Verdict::down(HostError::SendExpectFail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::translate_escapes;

    #[test]
    fn expect_escapes_are_translated_as_relayd_does() {
        assert_eq!(translate_escapes(r"220 *\r\n"), "220 *\r\n");
        assert_eq!(translate_escapes(r"a\*b\\c"), "a*b\\c");
        assert_eq!(translate_escapes(r"end\"), "end");
    }
}
