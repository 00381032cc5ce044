//! TCP relays: backends closing after their answer, to a fixed address,
//! to tables with every scheduling mode, and to targets found per
//! connection (transparent, original destination).

mod close;
mod fixed;
mod forward;
mod tables;
