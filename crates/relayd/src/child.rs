//! What every child does between exec and its engine's main loop: name the
//! process, start logging, take the parent channel from fd 3, enter the
//! sandbox while still single-threaded, then start a single-threaded tokio
//! runtime and run the engine.
//!
//! Children ignore SIGINT and SIGHUP (in the foreground, Ctrl-C reaches the
//! whole process group; the parent decides) and leave on SIGTERM, on the
//! parent's `Shutdown`, or when the parent channel closes.

use crate::log::Destination;
use crate::privsep::{die_with_parent, Sandbox};
use crate::proc::{ProcId, PARENT_FD};
use caps::Capability;
use nix::sys::signal::{signal, SigHandler, Signal};
use relayd_proto::ProcessKind;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

/// Runs the child `id` to its end. Errors are logged; the exit status tells
/// the parent something went wrong.
pub fn run(id: ProcId, foreground: bool, verbosity: u8) -> ExitCode {
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

fn bootstrap(id: ProcId) -> Result<(), String> {
    let parent = take_parent_channel()?;
    for sig in [Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: installing SIG_IGN runs no code of ours in signal context.
        unsafe { signal(sig, SigHandler::SigIgn) }
            .map_err(|e| format!("cannot ignore {sig}: {e}"))?;
    }
    // The pfe loads libnftables while the library is still reachable.
    let nftables = (id.kind == ProcessKind::Pfe).then(crate::pfe::Nftables::load);
    Sandbox::from_env().enter(capabilities_kept(id.kind))?;
    die_with_parent(Signal::SIGTERM)?;
    tracing::debug!("sandboxed, uid {}", nix::unistd::getuid());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        match id.kind {
            ProcessKind::Hce => crate::hce::run(parent).await,
            ProcessKind::Pfe => {
                let nftables = nftables.unwrap_or_else(|| Err("libnftables not loaded".into()));
                crate::pfe::run(parent, nftables).await
            }
            ProcessKind::Relay => crate::relay::run(id.instance, parent).await,
            ProcessKind::Ca => crate::ca::run(id.instance, parent).await,
            ProcessKind::Parent => Err("-P parent is not a child process".to_string()),
        }
    })
}

/// The capabilities an engine keeps after dropping root (relayd's pledge
/// lines, in Linux terms): the pfe edits nftables, nobody else needs any.
pub fn capabilities_kept(kind: ProcessKind) -> &'static [Capability] {
    match kind {
        ProcessKind::Pfe => &[Capability::CAP_NET_ADMIN],
        _ => &[],
    }
}

/// Fd 3 as a socket. A person running `relayd -P hce` by hand gets an error,
/// not an engine talking to whatever fd 3 is.
fn take_parent_channel() -> Result<UnixStream, String> {
    let stat = nix::sys::stat::fstat(PARENT_FD)
        .map_err(|_| "-P is internal: relayd starts its children itself".to_string())?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err("-P is internal: fd 3 is not the parent's socket".to_string());
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

/// Resolves when this process gets SIGTERM.
pub async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut sigterm) => {
            sigterm.recv().await;
        }
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            std::future::pending::<()>().await;
        }
    }
}

/// A descriptor received with a `PeerChannel` frame, as a std socket ready
/// for `ImsgChannel::new`.
pub fn peer_socket(fd: Option<OwnedFd>) -> Result<UnixStream, String> {
    fd.map(UnixStream::from)
        .ok_or_else(|| "peer channel message without a descriptor".to_string())
}

/// Reads a channel from another child whose messages this engine does not
/// act on yet, logging them, so the sender never blocks on a full socket.
pub fn drain_peer<Rx>(mut reader: relayd_proto::ImsgReader<Rx>, peer: String)
where
    Rx: serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match reader.recv().await {
                Ok(Some(received)) => tracing::trace!("from {peer}: {:?}", received.msg),
                Ok(None) => {
                    tracing::debug!("channel from {peer} closed");
                    return;
                }
                Err(e) => {
                    tracing::warn!("channel from {peer}: {e}");
                    return;
                }
            }
        }
    });
}

/// Whether a receive error only means the parent is gone (it died with
/// data we had not read yet): time to leave, not a protocol error.
fn parent_gone(error: &relayd_proto::ImsgError) -> bool {
    matches!(error, relayd_proto::ImsgError::Io(e)
        if e.kind() == std::io::ErrorKind::ConnectionReset)
}

/// One receive from the parent channel: the message, `Ok(None)` when the
/// parent closed the channel or went away (the child exits cleanly), or
/// the error that ends the child.
pub fn from_parent<M>(
    received: Result<Option<relayd_proto::Received<M>>, relayd_proto::ImsgError>,
) -> Result<Option<relayd_proto::Received<M>>, String> {
    match received {
        Ok(Some(received)) => Ok(Some(received)),
        Ok(None) => {
            tracing::debug!("parent closed the channel, exiting");
            Ok(None)
        }
        Err(e) if parent_gone(&e) => {
            tracing::debug!("parent went away, exiting");
            Ok(None)
        }
        Err(e) => Err(format!("parent channel: {e}")),
    }
}
