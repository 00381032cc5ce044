//! Going to the background the way daemon(3) does, with one refinement: the
//! process the operator started waits until the daemon says it is ready
//! (control socket listening, children started) and exits 0, or exits 1 if
//! the daemon died first. So `relayd && relayctl show summary` works, and
//! startup errors still reach the terminal.
//!
//! Must run before any thread or runtime exists: only the forking thread
//! survives fork.

use nix::unistd::{fork, setsid, ForkResult};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

/// Why relayd could not go to the background.
#[derive(Debug, thiserror::Error)]
pub enum DaemonizeError {
    #[error("cannot create a pipe: {0}")]
    Pipe(nix::Error),
    #[error("fork: {0}")]
    Fork(nix::Error),
    #[error("setsid: {0}")]
    Setsid(nix::Error),
}

/// The daemon's end of the readiness pipe.
pub struct Readiness {
    pipe: OwnedFd,
}

impl Readiness {
    /// Tells the waiting process that startup succeeded, then detaches from
    /// the terminal: stdout and stderr go to /dev/null from here on.
    pub fn ready(self) {
        let _ = nix::unistd::write(&self.pipe, b"1");
        redirect_to_null(&[1, 2]);
    }
}

/// Forks; the original process waits for [`Readiness::ready`] and exits.
/// Returns in the daemon, which leads a new session.
pub fn daemonize() -> Result<Readiness, DaemonizeError> {
    // Close-on-exec: the children must not keep the waiting process waiting.
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(DaemonizeError::Pipe)?;
    // SAFETY: called before any other thread exists (see module doc).
    match unsafe { fork() }.map_err(DaemonizeError::Fork)? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut byte = [0u8; 1];
            let mut reader = std::fs::File::from(read_end);
            let ready = matches!(reader.read(&mut byte), Ok(1));
            std::process::exit(if ready { 0 } else { 1 });
        }
        ForkResult::Child => {
            drop(read_end);
            setsid().map_err(DaemonizeError::Setsid)?;
            let _ = nix::unistd::chdir("/");
            redirect_to_null(&[0]);
            Ok(Readiness { pipe: write_end })
        }
    }
}

fn redirect_to_null(fds: &[i32]) {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    for fd in fds {
        // SAFETY: dup2 onto a standard descriptor we own.
        unsafe { libc::dup2(null.as_raw_fd(), *fd) };
    }
}
