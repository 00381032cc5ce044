//! The second layer of every child's sandbox, after `privsep` (chroot,
//! unprivileged user, capabilities, no_new_privs): a seccomp allow-list of
//! system calls per kind of process (`calls`), and landlock rules that take
//! the filesystem away (`fs`).
//!
//! Both are entered by `engine::ChildStart::run` once the runtime is built
//! and the engine's start-up work that needs more is done (the pfe's
//! libnftables context, rtnetlink and ctnetlink sockets, the relays'
//! descriptor limit), before the first byte from the parent or a peer is
//! read. They hold for the life of the process and every thread it starts.
//!
//! A call outside the list is trapped (`SECCOMP_RET_TRAP`): `trap`'s
//! SIGSYS handler writes the call's number to the child's death note (fd
//! 4, a pipe whose other end the parent keeps) and kills the process with
//! SIGSYS. The parent reads the note when it reaps the child and logs
//! which child made which call: `relay 1 killed by its sandbox: system
//! call ptrace (101)`. This was chosen over SECCOMP_RET_KILL_PROCESS and
//! the audit log, which needs auditd or the kernel log and does not reach
//! relayd's own log.
//!
//! In debug builds, `RELAYD_TEST_SECCOMP_LEARN=PREFIX` makes a trapped call
//! fail with ENOSYS instead, after its number was appended to
//! PREFIX.KIND (opened before the chroot): how the lists were drawn
//! up, by running the end-to-end tests with it. (SECCOMP_RET_LOG would
//! need the kernel's audit support.)

pub mod calls;
mod filter;
mod fs;
pub mod trap;

use relayd_proto::ProcessKind;

pub use filter::FilterError;
pub use fs::{log_support, FilesView, FsError, TcpView};

/// The descriptor a child finds its death note on.
pub const DEATH_NOTE_FD: std::os::fd::RawFd = 4;

/// Why a child could not be confined.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("seccomp: {0}")]
    Filter(#[from] FilterError),
    #[error("landlock: {0}")]
    Landlock(#[from] FsError),
    #[error("cannot install the SIGSYS handler: {0}")]
    Handler(nix::Error),
}

/// Confines this process, a child of `kind`, as its row of the process
/// table says: landlock first (its system calls are on no seccomp list),
/// then the SIGSYS handler, then the seccomp filter of the common calls
/// and `calls`.
pub fn confine(
    kind: ProcessKind,
    calls: &'static [calls::Rule],
    files: FilesView,
    tcp: TcpView,
) -> Result<(), ConfineError> {
    fs::restrict(kind, files, tcp)?;
    #[cfg(debug_assertions)]
    landlock_probe();
    trap::install().map_err(ConfineError::Handler)?;
    filter::install(calls)?;
    Ok(())
}

/// Debug builds only: opens the learning file of `kind`,
/// `$RELAYD_TEST_SECCOMP_LEARN.KIND` (call before the chroot); each line
/// is a call number.
#[cfg(debug_assertions)]
pub fn learn(kind: ProcessKind) {
    use std::os::fd::IntoRawFd;
    let Some(prefix) = std::env::var_os("RELAYD_TEST_SECCOMP_LEARN") else {
        return;
    };
    let mut path = prefix;
    path.push(format!(".{}", kind.title()));
    if let Ok(file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        trap::learn_into(file.into_raw_fd());
    }
}

/// Debug builds only, for the sandbox's end-to-end test: with
/// `RELAYD_TEST_LANDLOCK_PROBE=PATH`, a child opens PATH (in its chroot),
/// binds a TCP port and connects to 127.0.0.1 port 1 under landlock,
/// before seccomp would stop the calls, and logs what happened.
#[cfg(debug_assertions)]
fn landlock_probe() {
    let Some(path) = std::env::var_os("RELAYD_TEST_LANDLOCK_PROBE") else {
        return;
    };
    let said = |result: std::io::Result<()>| match result {
        Ok(()) => "done".to_string(),
        Err(e) => e.to_string(),
    };
    let path_text = path.to_string_lossy();
    let open = said(std::fs::File::open(&path).map(drop));
    tracing::info!("landlock probe {path_text}: {open}");
    let bind = said(std::net::TcpListener::bind("127.0.0.1:0").map(drop));
    tracing::info!("landlock probe tcp bind: {bind}");
    let connect = said(std::net::TcpStream::connect("127.0.0.1:1").map(drop));
    tracing::info!("landlock probe tcp connect: {connect}");
}
