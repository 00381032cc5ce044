//! The sandbox every child enters right after exec, before it starts its
//! runtime (credentials and capabilities are per thread on Linux, so this
//! must run while the process has a single thread).
//!
//! Steps, in order: look the user up (needs /etc/passwd, so before chroot),
//! clear the capability bounding set while still root, chroot and chdir,
//! drop supplementary groups, gid and uid, keep only the capabilities the
//! engine needs, set `no_new_privs`.
//!
//! Tests and unusual installs change the defaults through the environment,
//! which the parent hands on to every child:
//! - `RELAYD_CHROOT`: chroot directory (default `/var/empty`),
//! - `RELAYD_USER`: unprivileged user (default `_relayd`); its primary group
//!   is used as the group.

use caps::errors::CapsError;
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};
use std::io;
use std::path::PathBuf;

pub const DEFAULT_CHROOT: &str = "/var/empty";
pub const DEFAULT_USER: &str = "_relayd";
pub const CHROOT_ENV: &str = "RELAYD_CHROOT";
pub const USER_ENV: &str = "RELAYD_USER";

/// Why the sandbox cannot be set up or entered.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("unknown user {user} (create it, or set {USER_ENV})")]
    UnknownUser { user: String },
    #[error("cannot look up user {user}: {source}")]
    LookupUser { user: String, source: nix::Error },
    #[error("chroot {} is not a directory", .path.display())]
    NotADirectory { path: PathBuf },
    #[error("chroot {}: {source} (create it, or set {CHROOT_ENV})", .path.display())]
    MissingChroot { path: PathBuf, source: io::Error },
    #[error("relayd children must start as root to drop privileges")]
    NotRoot,
    #[error("cannot {what}: {source}")]
    Capabilities {
        what: &'static str,
        source: CapsError,
    },
    #[error("chroot {}: {source}", .path.display())]
    Chroot { path: PathBuf, source: nix::Error },
    #[error("chdir / in the chroot: {0}")]
    Chdir(nix::Error),
    #[error("{call}({id}): {source}")]
    Credentials {
        call: &'static str,
        id: u32,
        source: nix::Error,
    },
    #[error("prctl({option}): {source}")]
    Prctl {
        option: &'static str,
        source: io::Error,
    },
}

/// Where and as whom the children run.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub chroot: PathBuf,
    pub user: String,
}

impl Sandbox {
    /// The sandbox from the environment, with relayd's defaults.
    pub fn from_env() -> Sandbox {
        Sandbox {
            chroot: std::env::var_os(CHROOT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROOT)),
            user: std::env::var(USER_ENV).unwrap_or_else(|_| DEFAULT_USER.to_string()),
        }
    }

    /// Looks up the unprivileged user; the parent calls this before starting
    /// any child so a missing user is one clear error, not N dead children.
    pub fn lookup_user(&self) -> Result<User, SandboxError> {
        match User::from_name(&self.user) {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(SandboxError::UnknownUser {
                user: self.user.clone(),
            }),
            Err(source) => Err(SandboxError::LookupUser {
                user: self.user.clone(),
                source,
            }),
        }
    }

    /// Checks what can be checked before children start: the user exists
    /// and the chroot directory is a directory.
    pub fn check(&self) -> Result<(), SandboxError> {
        self.lookup_user()?;
        match std::fs::metadata(&self.chroot) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(SandboxError::NotADirectory {
                path: self.chroot.clone(),
            }),
            Err(source) => Err(SandboxError::MissingChroot {
                path: self.chroot.clone(),
                source,
            }),
        }
    }

    /// Enters the sandbox for good. `keep` lists the capabilities the
    /// engine keeps in its permitted and effective sets (empty for all but
    /// the pfe).
    pub fn enter(&self, keep: &[Capability]) -> Result<(), SandboxError> {
        let user = self.lookup_user()?;
        if !Uid::effective().is_root() {
            return Err(SandboxError::NotRoot);
        }
        let capabilities =
            |what: &'static str| move |source| SandboxError::Capabilities { what, source };
        caps::clear(None, CapSet::Bounding)
            .map_err(capabilities("clear the capability bounding set"))?;
        caps::clear(None, CapSet::Ambient)
            .map_err(capabilities("clear the ambient capabilities"))?;
        if !keep.is_empty() {
            // Without this, setuid away from root empties the permitted set.
            set_keepcaps(true)?;
        }
        nix::unistd::chroot(&self.chroot).map_err(|source| SandboxError::Chroot {
            path: self.chroot.clone(),
            source,
        })?;
        nix::unistd::chdir("/").map_err(SandboxError::Chdir)?;
        drop_ids(user.uid, user.gid)?;
        let kept: CapsHashSet = keep.iter().copied().collect();
        caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
            .map_err(capabilities("clear inheritable capabilities"))?;
        caps::set(None, CapSet::Permitted, &kept)
            .map_err(capabilities("set permitted capabilities"))?;
        caps::set(None, CapSet::Effective, &kept)
            .map_err(capabilities("set effective capabilities"))?;
        if !keep.is_empty() {
            set_keepcaps(false)?;
        }
        set_no_new_privs()?;
        Ok(())
    }
}

fn drop_ids(uid: Uid, gid: Gid) -> Result<(), SandboxError> {
    let failed =
        |call: &'static str, id: u32| move |source| SandboxError::Credentials { call, id, source };
    nix::unistd::setgroups(&[gid]).map_err(failed("setgroups", gid.as_raw()))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(failed("setresgid", gid.as_raw()))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(failed("setresuid", uid.as_raw()))?;
    Ok(())
}

/// `prctl` with integer arguments; `option` names it for the error.
fn prctl(
    option: &'static str,
    code: libc::c_int,
    value: libc::c_ulong,
) -> Result<(), SandboxError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(code, value, 0, 0, 0) };
    if rc != 0 {
        return Err(SandboxError::Prctl {
            option,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn set_keepcaps(on: bool) -> Result<(), SandboxError> {
    prctl(
        "PR_SET_KEEPCAPS",
        libc::PR_SET_KEEPCAPS,
        libc::c_ulong::from(on),
    )
}

fn set_no_new_privs() -> Result<(), SandboxError> {
    prctl("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// Asks the kernel to send `signal` to this process when its parent dies,
/// so a child never outlives a killed parent. Set after the uid change,
/// which clears it.
pub fn die_with_parent(signal: nix::sys::signal::Signal) -> Result<(), SandboxError> {
    prctl(
        "PR_SET_PDEATHSIG",
        libc::PR_SET_PDEATHSIG,
        signal as libc::c_ulong,
    )
}
