//! What every child does between exec and its engine: name the process,
//! start logging, take the parent channel from fd 3, ignore the signals the
//! parent handles, then hand over to the entry its row of the process table
//! names (which opens what the sandbox will forbid and runs the engine
//! through `engine::ChildStart`).
//!
//! Children ignore SIGINT and SIGHUP (in the foreground, Ctrl-C reaches the
//! whole process group; the parent decides) and leave on SIGTERM, on the
//! parent's `Shutdown`, or when the parent channel closes.

use crate::engine::ChildError;
use crate::log::Destination;
use crate::proc::{ProcId, PARENT_FD};
use nix::sys::signal::{signal, SigHandler, Signal};
use relayd_proto::ProcessKind;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

/// Why a child could not get as far as its engine, or why the engine ended.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("-P is internal: relayd starts its children itself")]
    NoParentChannel,
    #[error("-P is internal: fd 3 is not the parent's socket")]
    NotASocket,
    #[error("-P {0} is not a child process")]
    NotAChild(ProcessKind),
    #[error("cannot ignore {signal}: {source}")]
    Signal { signal: Signal, source: nix::Error },
    #[error(transparent)]
    Child(#[from] ChildError),
}

/// Runs child `kind` instance `instance` to its end. Errors are logged; the
/// exit status tells the parent something went wrong.
pub fn run(kind: ProcessKind, instance: u32, foreground: bool, verbosity: u8) -> ExitCode {
    let row = crate::procs::spec(kind);
    let id = row.instances.id(kind, instance);
    crate::proc::set_comm(&id.title());
    let destination = if foreground {
        Destination::Stderr
    } else {
        Destination::Syslog
    };
    crate::log::init(&id.to_string(), destination, verbosity);
    match bootstrap(id) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn bootstrap(id: ProcId) -> Result<(), BootError> {
    let row = crate::procs::spec(id.kind);
    let entry = row.entry.ok_or(BootError::NotAChild(id.kind))?;
    let parent = take_parent_channel()?;
    for sig in [Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: installing SIG_IGN runs no code of ours in signal context.
        unsafe { signal(sig, SigHandler::SigIgn) }.map_err(|source| BootError::Signal {
            signal: sig,
            source,
        })?;
    }
    Ok(entry(row.child_start(id, parent))?)
}

/// Fd 3 as a socket. A person running `relayd -P hce` by hand gets an error,
/// not an engine talking to whatever fd 3 is.
fn take_parent_channel() -> Result<UnixStream, BootError> {
    let stat = nix::sys::stat::fstat(PARENT_FD).map_err(|_| BootError::NoParentChannel)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(BootError::NotASocket);
    }
    // SAFETY: fd 3 was set up by the parent for us and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(PARENT_FD) };
    // Later descriptors must not leak into anything we might exec.
    let _ = nix::fcntl::fcntl(
        PARENT_FD,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Ok(UnixStream::from(fd))
}
