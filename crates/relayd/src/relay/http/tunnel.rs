//! An upgraded session's transports as `copy_bidirectional` sees them:
//! each write to a side counts into that side's relay byte counter as it
//! happens, so a long websocket shows its bytes while it runs and one that
//! ends in an error has counted what it moved (copy_bidirectional reports
//! its totals only on a clean end).

use crate::relay::core::clock::Tally;
use crate::relay::core::stream::Transport;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A side's transport whose writes count into its tally.
pub struct CountedWrites<'a> {
    pub stream: &'a mut Transport,
    pub tally: Option<&'a Tally>,
}

impl AsyncRead for CountedWrites<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedWrites<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut *this.stream).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(tally)) = (&written, this.tally) {
            tally.add(*n as u64);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}
