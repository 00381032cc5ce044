//! The request/response part shared by http and send/expect checks: connect
//! (plain or TLS), write the request, read until the response check decides,
//! the peer closes, or the deadline passes. Mirrors relayd's `tcp_send_req`
//! / `tcp_read_buf` and their TLS twins, including which error each step
//! reports.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use crate::{tcp, tls, HostError, Target, Verdict};

/// The most a check reads from one host; a response still going at this
/// size is judged on what arrived.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Judges a response as it arrives.
pub(crate) trait ResponseCheck {
    /// Called after each read with everything received so far; `Some` ends
    /// the check early.
    fn on_data(&mut self, received: &[u8]) -> Option<Verdict>;

    /// Called when the peer closed, the deadline passed after some data
    /// arrived, or the size limit was reached.
    fn on_close(&mut self, received: &[u8]) -> Verdict;
}

/// The errors a step reports: relayd distinguishes TCP from TLS ones.
struct StepErrors {
    write_timeout: HostError,
    write_fail: HostError,
    read_timeout: HostError,
    read_fail: HostError,
}

const TCP_ERRORS: StepErrors = StepErrors {
    write_timeout: HostError::TcpWriteTimeout,
    write_fail: HostError::TcpWriteFail,
    read_timeout: HostError::TcpReadTimeout,
    read_fail: HostError::TcpReadFail,
};

const TLS_ERRORS: StepErrors = StepErrors {
    write_timeout: HostError::TlsWriteTimeout,
    write_fail: HostError::TlsWriteError,
    read_timeout: HostError::TlsReadTimeout,
    read_fail: HostError::TlsReadError,
};

/// Connects to the target and runs one exchange. An empty `request` sends
/// nothing and reads what the server says first (a banner).
pub(crate) async fn run(
    target: &Target,
    deadline: Instant,
    use_tls: bool,
    server_name: Option<&str>,
    request: &[u8],
    check: &mut (impl ResponseCheck + ?Sized),
) -> Verdict {
    if use_tls {
        match tls::connect(target, deadline, server_name).await {
            Ok(stream) => exchange(stream, deadline, request, check, &TLS_ERRORS).await,
            Err(error) => Verdict::down(error),
        }
    } else {
        match tcp::connect(target, deadline).await {
            Ok(stream) => exchange(stream, deadline, request, check, &TCP_ERRORS).await,
            Err(error) => Verdict::down(error),
        }
    }
}

async fn exchange<S>(
    mut stream: S,
    deadline: Instant,
    request: &[u8],
    check: &mut (impl ResponseCheck + ?Sized),
    errors: &StepErrors,
) -> Verdict
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !request.is_empty() {
        let write = async {
            stream.write_all(request).await?;
            stream.flush().await
        };
        match timeout_at(deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Verdict::down(errors.write_fail),
            Err(_elapsed) => return Verdict::down(errors.write_timeout),
        }
    }

    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = match timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(read) => read,
            Err(_elapsed) if received.is_empty() => return Verdict::down(errors.read_timeout),
            Err(_elapsed) => return check.on_close(&received),
        };
        match read {
            Ok(0) => return check.on_close(&received),
            Ok(n) => {
                received.extend_from_slice(&chunk[..n]);
                if let Some(verdict) = check.on_data(&received) {
                    return verdict;
                }
                if received.len() >= MAX_RESPONSE_BYTES {
                    return check.on_close(&received);
                }
            }
            // Many TLS servers close without close_notify: that is an end
            // of stream here, as it is for libtls.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                return check.on_close(&received)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Verdict::down(errors.read_fail),
        }
    }
}
