//! Landlock: what a confined child may still do with the filesystem and
//! TCP, entered just before its seccomp filter.
//!
//! Every child handles every filesystem access right of the kernel's ABI
//! and is granted none: once confined it can open, create or change no
//! file anywhere, inside its chroot or not (what it reads arrives as
//! descriptors the parent opened). TCP (ABI 4 and later): no child binds
//! a TCP port; the pfe and the ca connect nowhere either (the hce's checks
//! and the relays' backends are any port the configuration names, which
//! changes on reload). Where the kernel has it (ABI 6), signals to
//! processes outside the child's own domain (its siblings, the parent)
//! and abstract Unix sockets outside it are refused too.
//!
//! Kernels without landlock, or with an older ABI, get what they support
//! (best effort): the parent says so once at start (`log_support`).

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetStatus,
    Scope, ABI,
};
use relayd_proto::ProcessKind;

/// The newest landlock ABI relayd asks for.
const ABI_WANTED: ABI = ABI::V6;

/// What a child may see of the filesystem once confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesView {
    /// Nothing at all.
    Nothing,
}

/// Which TCP operations a child keeps under landlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpView {
    /// No bind, no connect.
    Nothing,
    /// Connect to any port, bind none.
    ConnectAny,
}

/// Why landlock rules could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FsError(#[from] landlock::RulesetError);

/// Restricts this process, a child of `kind`, to `files` and `tcp`.
pub fn restrict(kind: ProcessKind, files: FilesView, tcp: TcpView) -> Result<(), FsError> {
    let FilesView::Nothing = files;
    let mut net = AccessNet::from_all(ABI_WANTED);
    if tcp == TcpView::ConnectAny {
        net.remove(AccessNet::ConnectTcp);
    }
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI_WANTED))?
        .handle_access(net)?
        .scope(Scope::from_all(ABI_WANTED))?
        .create()?
        .restrict_self()?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => tracing::debug!(
            "landlock: no files, {}",
            match tcp {
                TcpView::Nothing => "no TCP",
                TcpView::ConnectAny => "TCP connect only",
            }
        ),
        RulesetStatus::PartiallyEnforced => {
            tracing::debug!("landlock: partly enforced (older kernel ABI), for {kind}")
        }
        RulesetStatus::NotEnforced => tracing::debug!("landlock: not enforced for {kind}"),
    }
    Ok(())
}

/// The parent's one log line about landlock on this kernel, at start.
pub fn log_support() {
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only returns the
    // kernel's ABI version (or fails); it creates nothing.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    match abi {
        v if v < 0 => tracing::warn!(
            "landlock is not available on this kernel: children keep their chroot's \
             (empty) filesystem view and any TCP port"
        ),
        v if v < ABI_WANTED as i64 => tracing::info!(
            "landlock ABI {v} (relayd asks for {}): filesystem rules{}",
            ABI_WANTED as i64,
            if v < 4 {
                ", no TCP rules"
            } else {
                " and TCP rules"
            }
        ),
        v => tracing::debug!("landlock ABI {v}"),
    }
}
