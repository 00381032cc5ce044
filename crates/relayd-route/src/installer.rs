//! Keeps the kernel's routes of relayd's protocol as the routers want
//! them: the routes installed (read from the kernel at start, then kept
//! up to date with every change that went through), and [`Installer::apply`]
//! making the few changes a new [`Desired`] needs.

use crate::desired::Desired;
use crate::kernel::{KernelError, RouteSocket};
use crate::reconcile::{changes, record, Change, Installed};
use std::fmt;

pub struct Installer {
    socket: RouteSocket,
    installed: Installed,
}

/// What one [`Installer::apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Changes the kernel carried out, in order.
    pub done: Vec<Change>,
    /// Changes it refused; the next `apply` tries them again.
    pub failed: Vec<ApplyError>,
    /// After a refusal the installed routes are read again from the
    /// kernel; set when that failed too (the next `apply` works from what
    /// went through).
    pub resync: Option<KernelError>,
}

impl Applied {
    /// Whether anything changed in the kernel.
    pub fn changed(&self) -> bool {
        !self.done.is_empty()
    }
}

/// A change the kernel refused, with the routers that wanted it.
#[derive(Debug)]
pub struct ApplyError {
    pub change: Change,
    /// The routers wanting the route ("" for a removal nothing wants).
    pub routers: String,
    pub error: KernelError,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.routers.is_empty() {
            write!(f, "router {}: ", self.routers)?;
        }
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for ApplyError {}

impl Installer {
    /// Takes over `socket`, reading which routes of relayd's protocol the
    /// kernel has (left by an earlier run, or by one that was killed).
    pub fn new(mut socket: RouteSocket) -> Result<Installer, KernelError> {
        let installed = read_installed(&mut socket)?;
        Ok(Installer { socket, installed })
    }

    /// Reads the installed routes from the kernel again (after someone
    /// else changed routes of relayd's protocol).
    pub fn resync(&mut self) -> Result<(), KernelError> {
        self.installed = read_installed(&mut self.socket)?;
        Ok(())
    }

    /// relayd's routes as the kernel has them.
    pub fn installed(&self) -> &Installed {
        &self.installed
    }

    /// Makes the kernel's routes of relayd's protocol what `desired`
    /// wants: at start this flushes what the configuration no longer
    /// wants; `Desired::default()` removes every route of relayd's.
    pub fn apply(&mut self, desired: &Desired) -> Applied {
        let mut applied = Applied::default();
        for change in changes(desired, &self.installed) {
            let result = match &change {
                Change::Add(route) => self.socket.add(route),
                Change::Replace { new, .. } => self.socket.replace(new),
                Change::Delete(route) => self.socket.delete(route),
            };
            match result {
                Ok(()) => {
                    record(&mut self.installed, &change);
                    applied.done.push(change);
                }
                Err(error) => applied.failed.push(ApplyError {
                    routers: desired.routers_of(change.key()),
                    change,
                    error,
                }),
            }
        }
        if !applied.failed.is_empty() {
            applied.resync = self.resync().err();
        }
        applied
    }
}

fn read_installed(socket: &mut RouteSocket) -> Result<Installed, KernelError> {
    Ok(socket
        .list(None)?
        .into_iter()
        .map(|route| (route.key, route))
        .collect())
}
