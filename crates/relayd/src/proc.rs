//! Processes: how one is named ([`ProcId`]), the words the process table
//! (`procs`) describes each kind with, and how the parent starts a child.
//!
//! Every child is a fresh exec of the relayd binary (`/proc/self/exe`), so
//! it inherits no runtime, no threads and no memory layout from the parent.
//! Each child finds its channel to the parent on fd [`PARENT_FD`]; channels
//! to other children arrive later over it (`PeerChannel` messages, relayd's
//! `IMSG_CTL_PROCFD`). The internal flags are relayd's: `-P name -I
//! instance` (0-based). argv\[0\] is the process title (`relayd: relay 2`,
//! 1-based as relayd), so `ps` shows which engine a process is.

use relayd_proto::ProcessKind;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// The descriptor every child finds its parent channel on.
pub const PARENT_FD: RawFd = 3;
/// Inherited descriptors are parked above this number first, so moving them
/// to their final numbers never overwrites one not yet moved.
const PARKING_FD: RawFd = 1000;

/// How many processes of a kind run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    One,
    /// `prefork` of them (relayd.conf), numbered from 0.
    Prefork,
}

impl Instances {
    pub fn count(self, prefork: u32) -> u32 {
        match self {
            Instances::One => 1,
            Instances::Prefork => prefork.max(1),
        }
    }

    /// The id of instance `instance` of a process of `kind`.
    pub fn id(self, kind: ProcessKind, instance: u32) -> ProcId {
        match self {
            Instances::One => ProcId::single(kind),
            Instances::Prefork => ProcId::numbered(kind, instance),
        }
    }
}

/// Which processes of a peer kind a process talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Every one of them (the hce feeds every relay process).
    Each,
    /// The one with the same instance number (relay N and ca N).
    SameInstance,
}

/// A kind of process a process has a channel to, besides the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub kind: ProcessKind,
    pub pairing: Pairing,
}

impl Peer {
    pub const fn each(kind: ProcessKind) -> Peer {
        Peer {
            kind,
            pairing: Pairing::Each,
        }
    }

    pub const fn same_instance(kind: ProcessKind) -> Peer {
        Peer {
            kind,
            pairing: Pairing::SameInstance,
        }
    }
}

/// Where a process runs (see `privsep` and `sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandboxing {
    /// Root, no chroot: the parent.
    None,
    /// Capability bounding set cleared, chroot, unprivileged user,
    /// `no_new_privs`, only the capabilities its table row keeps; then
    /// seccomp (the common calls and `calls`) and landlock (`files`,
    /// `tcp`).
    Confined {
        calls: &'static [crate::sandbox::calls::Rule],
        files: crate::sandbox::FilesView,
        tcp: crate::sandbox::TcpView,
    },
}

/// One process: its kind and, for kinds that run `prefork` of them, its
/// instance (0-based, as relayd's `-I`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcId {
    pub kind: ProcessKind,
    instance: Option<u32>,
}

impl ProcId {
    /// The only process of its kind.
    pub const fn single(kind: ProcessKind) -> ProcId {
        ProcId {
            kind,
            instance: None,
        }
    }

    /// Instance `instance` of a kind that runs several.
    pub const fn numbered(kind: ProcessKind, instance: u32) -> ProcId {
        ProcId {
            kind,
            instance: Some(instance),
        }
    }

    /// The instance number on the wire and in `-I` (0 for single ones).
    pub fn instance(&self) -> u32 {
        self.instance.unwrap_or(0)
    }

    /// What `ps` shows: `relayd: hce`, `relayd: relay 2` (1-based, as relayd).
    pub fn title(&self) -> String {
        format!("relayd: {self}")
    }
}

impl fmt::Display for ProcId {
    /// Log prefix and title: `hce`, `relay 2` (1-based).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.instance {
            Some(instance) => write!(f, "{} {}", self.kind.title(), instance + 1),
            None => f.write_str(self.kind.title()),
        }
    }
}

/// What the parent needs to start one child.
pub struct ChildSpec {
    pub id: ProcId,
    /// The child's end of its channel to the parent.
    pub parent_channel: OwnedFd,
    /// `-d`: log to the inherited stderr instead of syslog.
    pub foreground: bool,
    pub verbosity: u8,
}

/// A started child and the read end of its death note (see `sandbox`):
/// the system call its sandbox killed it for, if it did.
pub struct Spawned {
    pub child: Child,
    pub death_note: OwnedFd,
}

/// Starts one child: exec of our own binary with the internal flags, its
/// parent channel on fd 3 and the write end of its death note on fd 4. The
/// descriptors in `spec` are closed in the parent when this returns.
pub fn spawn(spec: ChildSpec) -> std::io::Result<Spawned> {
    let (note_read, note_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    nix::fcntl::fcntl(
        note_read.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    let mut command = Command::new("/proc/self/exe");
    command.arg0(spec.id.title());
    command.args([
        "-P",
        spec.id.kind.title(),
        "-I",
        &spec.id.instance().to_string(),
    ]);
    if spec.foreground {
        command.arg("-d");
    } else {
        // Daemonized: nothing may keep the operator's terminal or pipes open.
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command.stdin(Stdio::null());
    for _ in 0..spec.verbosity {
        command.arg("-v");
    }
    let moves: Vec<(RawFd, RawFd)> = vec![
        (spec.parent_channel.as_raw_fd(), PARENT_FD),
        (note_write.as_raw_fd(), crate::sandbox::DEATH_NOTE_FD),
    ];
    // SAFETY: the closure only calls async-signal-safe functions (fcntl,
    // dup2, close) on descriptors it owns in the forked child.
    unsafe {
        command.pre_exec(move || move_descriptors(&moves));
    }
    let child = command.spawn()?;
    drop(spec.parent_channel);
    drop(note_write);
    Ok(Spawned {
        child,
        death_note: note_read,
    })
}

/// In the forked child: puts every `(from, to)` descriptor at `to`, without
/// close-on-exec so it survives the exec.
fn move_descriptors(moves: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    let mut parked = [0 as RawFd; 64];
    if moves.len() > parked.len() {
        return Err(std::io::Error::other("too many channels for one child"));
    }
    for (slot, (from, _)) in parked.iter_mut().zip(moves) {
        // SAFETY: plain syscall on a descriptor open in this process.
        let fd = unsafe { libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, PARKING_FD) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = fd;
    }
    for (parked_fd, (_, to)) in parked.iter().zip(moves) {
        // SAFETY: as above; dup2 clears close-on-exec on the new descriptor.
        if unsafe { libc::dup2(*parked_fd, *to) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the parked copy is ours and no longer needed.
        unsafe { libc::close(*parked_fd) };
    }
    Ok(())
}

/// Sets the short name the kernel keeps for this process (`ps -o comm`,
/// `/proc/PID/comm`; 15 bytes at most).
pub fn set_comm(title: &str) {
    let mut name = [0u8; 16];
    for (dst, src) in name.iter_mut().zip(title.bytes().take(15)) {
        *dst = src;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated buffer of 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_one_based() {
        let relay = ProcId::numbered(ProcessKind::Relay, 1);
        assert_eq!(relay.title(), "relayd: relay 2");
        assert_eq!(relay.to_string(), "relay 2");
        assert_eq!(relay.instance(), 1);
        let hce = ProcId::single(ProcessKind::Hce);
        assert_eq!(hce.title(), "relayd: hce");
        assert_eq!(hce.instance(), 0);
    }

    #[test]
    fn instances_count_and_name_their_processes() {
        assert_eq!(Instances::One.count(3), 1);
        assert_eq!(Instances::Prefork.count(3), 3);
        assert_eq!(Instances::Prefork.count(0), 1, "at least one");
        assert_eq!(Instances::One.id(ProcessKind::Pfe, 0).to_string(), "pfe");
        assert_eq!(
            Instances::Prefork.id(ProcessKind::Ca, 0).to_string(),
            "ca 1"
        );
    }
}
