//! The daemon as a whole: its children, the control socket, demote groups,
//! start and stop, the sandbox, reloads.

mod child;
mod control;
mod demote;
mod lifecycle;
mod privsep;
mod reload;
