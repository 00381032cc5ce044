//! The daemon as a whole: its children, the control socket, demote groups,
//! start and stop, the sandbox, reloads.

mod abort;
mod child;
mod control;
mod control_limits;
mod control_version;
mod demote;
mod lifecycle;
mod privsep;
mod reload;
mod sandbox;
