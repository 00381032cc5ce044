//! One direction of a session moved with splice(2): socket -> pipe ->
//! socket, the data never copied through user space.
//!
//! Pipes are borrowed from a per-process pool only while data is in
//! flight and returned as soon as they are empty, so an idle session holds
//! no pipe (no descriptors, no kernel pipe buffers): thousands of idle
//! keep-alive sessions cost two sockets each.

use crate::relay::core::clock::{ActivityClock, Way};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// How much one splice call asks for; the pipe takes what fits.
const SPLICE_CHUNK: usize = 1 << 20;
/// Pipe capacity asked for with F_SETPIPE_SZ (the unprivileged maximum,
/// fs.pipe-max-size): against the default 64 KiB it moves more per call
/// and about doubled throughput in scripts/bench-tcp.sh.
const PIPE_SIZE: libc::c_int = 1 << 20;
/// Empty pipes kept for reuse; more are closed. The kernel counts pipe
/// capacity against a per-user quota (fs.pipe-user-pages-soft, 64 MiB by
/// default) shared by all relay processes: beyond it new pipes get a
/// single page, which still works, only slower.
const POOL_LIMIT: usize = 16;

pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Pipe {
    fn open() -> io::Result<Pipe> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(io::Error::from)?;
        // A larger pipe moves more per call; refused sizes (user pipe
        // quota) just keep the default.
        // SAFETY: F_SETPIPE_SZ takes an int and touches no memory of ours.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        Ok(Pipe { read, write })
    }
}

/// Empty pipes ready for the next burst of data.
pub struct PipePool {
    idle: Mutex<Vec<Pipe>>,
}

impl PipePool {
    pub fn new() -> PipePool {
        PipePool {
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn take(&self) -> io::Result<Pipe> {
        let reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match reused {
            Some(pipe) => Ok(pipe),
            None => Pipe::open(),
        }
    }

    /// Takes back a pipe that holds no data.
    pub fn give_back(&self, pipe: Pipe) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_LIMIT {
            idle.push(pipe);
        }
    }
}

/// Why splicing stopped before the end of the stream.
pub enum SpliceError {
    /// The kernel cannot splice these descriptors: copy instead. Nothing
    /// was lost (no byte is in a pipe).
    Unsupported,
    /// Reading from the source failed.
    Read(io::Error),
    /// Writing to the destination failed.
    Write(io::Error),
}

/// Moves bytes from `src` to `dst` until `src` reaches end of file, which
/// returns `Ok`, counting what it takes in as moved `way`. The caller
/// half-closes `dst`.
pub async fn splice_direction(
    pool: &PipePool,
    src: &TcpStream,
    dst: &TcpStream,
    clock: &ActivityClock,
    way: Way,
) -> Result<(), SpliceError> {
    let mut first = true;
    loop {
        clock.rest();
        let readable = src.readable().await;
        clock.wake();
        readable.map_err(SpliceError::Read)?;
        let pipe = pool.take().map_err(SpliceError::Read)?;
        let filled = src.try_io(Interest::READABLE, || {
            splice(src.as_raw_fd(), pipe.write.as_raw_fd(), SPLICE_CHUNK)
        });
        let mut in_pipe = match filled {
            Ok(0) => {
                pool.give_back(pipe);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                pool.give_back(pipe);
                continue;
            }
            Err(e) if first && is_unsupported(&e) => {
                pool.give_back(pipe);
                return Err(SpliceError::Unsupported);
            }
            Err(e) => return Err(SpliceError::Read(e)),
        };
        first = false;
        clock.moved(way, in_pipe);
        while in_pipe > 0 {
            dst.writable().await.map_err(SpliceError::Write)?;
            let drained = dst.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_raw_fd(), dst.as_raw_fd(), in_pipe)
            });
            match drained {
                Ok(n) => in_pipe -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(SpliceError::Write(e)),
            }
        }
        pool.give_back(pipe);
    }
}

pub fn is_unsupported(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

pub fn splice(from: libc::c_int, to: libc::c_int, len: usize) -> io::Result<usize> {
    // SAFETY: plain descriptors, no offsets: the kernel reads no memory of
    // ours.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
