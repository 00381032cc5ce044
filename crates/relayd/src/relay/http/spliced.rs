//! Body bytes moved kernel-side: a Content-Length body, or the data of a
//! chunk, goes socket -> pipe -> socket with splice(2) through a pipe of
//! the process's pool (`tcp/splice.rs`), when both sides are plain TCP
//! and nothing is left in the read buffer. Filter rules never look at
//! bodies, so every such body may go this way. Splice is asked for no more
//! than the body has left, so what follows it (a pipelined request, the
//! next chunk's size) stays in the socket for the buffered path.
//!
//! Each [`BodySplice::step`] changes its state only in the system call
//! after its one wait: a step abandoned while waiting (the backend spoke
//! first) loses nothing, and bytes in the pipe go out on the next step.

use super::wire::ReadError;
use crate::relay::tcp::splice::{is_unsupported, splice, Pipe, PipePool};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// How much one splice call takes from the source at most.
const CHUNK: u64 = 1 << 20;

/// What a step did.
pub enum Step {
    /// Took this many body bytes from the source into the pipe.
    Filled(u64),
    /// Wrote some bytes from the pipe to the destination.
    Drained,
}

/// Why a step failed; nothing is lost on `Unsupported` (the pipe was
/// empty and stays so): the caller copies instead.
#[derive(Debug)]
pub enum SpliceFailed {
    Unsupported,
    /// The source ended before the body did.
    Truncated,
    Read(ReadError),
    Write(io::Error),
}

/// One direction's pipe while a body moves, and what it holds.
#[derive(Default)]
pub struct BodySplice {
    pipe: Option<Pipe>,
    in_pipe: usize,
    /// The kernel refused once: this side copies from now on.
    refused: bool,
}

impl BodySplice {
    /// `enabled`: the protocol's `tcp { [no] splice }`.
    pub fn new(enabled: bool) -> BodySplice {
        BodySplice {
            refused: !enabled,
            ..BodySplice::default()
        }
    }

    /// Whether a step may run: the kernel did not refuse.
    pub fn usable(&self) -> bool {
        !self.refused
    }

    /// Whether bytes taken from the source are still to be written.
    pub fn holding(&self) -> bool {
        self.in_pipe > 0
    }

    /// Empties the pipe into `dst` or, if it is empty, fills it from
    /// `src` with at most `left` bytes. Waits at most `timeout` for
    /// either socket.
    pub async fn step(
        &mut self,
        pool: &PipePool,
        src: &TcpStream,
        dst: &TcpStream,
        left: u64,
        timeout: Duration,
    ) -> Result<Step, SpliceFailed> {
        if self.in_pipe > 0 {
            return self.drain(pool, dst, timeout).await;
        }
        match tokio::time::timeout(timeout, src.readable()).await {
            Err(_) => return Err(SpliceFailed::Read(ReadError::Timeout)),
            Ok(Err(e)) => return Err(SpliceFailed::Read(ReadError::Io(e))),
            Ok(Ok(())) => {}
        }
        let pipe = match self.pipe.take() {
            Some(pipe) => pipe,
            None => pool
                .take()
                .map_err(|e| SpliceFailed::Read(ReadError::Io(e)))?,
        };
        let want = left.min(CHUNK) as usize;
        let filled = src.try_io(Interest::READABLE, || {
            splice(src.as_raw_fd(), pipe.write.as_raw_fd(), want)
        });
        match filled {
            Ok(0) => {
                pool.give_back(pipe);
                Err(SpliceFailed::Truncated)
            }
            Ok(n) => {
                self.pipe = Some(pipe);
                self.in_pipe = n;
                Ok(Step::Filled(n as u64))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                pool.give_back(pipe);
                Ok(Step::Filled(0))
            }
            Err(e) if is_unsupported(&e) => {
                pool.give_back(pipe);
                self.refused = true;
                Err(SpliceFailed::Unsupported)
            }
            Err(e) => Err(SpliceFailed::Read(ReadError::Io(e))),
        }
    }

    async fn drain(
        &mut self,
        pool: &PipePool,
        dst: &TcpStream,
        timeout: Duration,
    ) -> Result<Step, SpliceFailed> {
        match tokio::time::timeout(timeout, dst.writable()).await {
            Err(_) => {
                let stuck = io::Error::new(io::ErrorKind::TimedOut, "peer stopped reading");
                return Err(SpliceFailed::Write(stuck));
            }
            Ok(Err(e)) => return Err(SpliceFailed::Write(e)),
            Ok(Ok(())) => {}
        }
        let Some(pipe) = self.pipe.as_ref() else {
            self.in_pipe = 0;
            return Ok(Step::Drained);
        };
        let drained = dst.try_io(Interest::WRITABLE, || {
            splice(pipe.read.as_raw_fd(), dst.as_raw_fd(), self.in_pipe)
        });
        match drained {
            Ok(n) => {
                self.in_pipe -= n.min(self.in_pipe);
                if self.in_pipe == 0 {
                    if let Some(pipe) = self.pipe.take() {
                        pool.give_back(pipe);
                    }
                }
                Ok(Step::Drained)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Drained),
            Err(e) => Err(SpliceFailed::Write(e)),
        }
    }
}
