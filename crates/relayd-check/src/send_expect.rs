//! `check send DATA expect PATTERN [tls]` and its binary form
//! `check binary send HEX expect HEX [tls]`.

use tokio::time::Instant;

use crate::exchange::{self, ResponseCheck};
use crate::fnmatch::fnmatch;
use crate::{HostError, Target, Verdict};

/// Sends `send` (nothing when empty: the server speaks first) and waits for
/// everything received to match the glob `expect`.
pub(crate) async fn check_text(
    target: &Target,
    deadline: Instant,
    use_tls: bool,
    send: &str,
    expect: &str,
) -> Verdict {
    let mut check = GlobCheck {
        pattern: expect.as_bytes(),
    };
    exchange::run(target, deadline, use_tls, None, send.as_bytes(), &mut check).await
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
