//! Changes without downtime: reloads under load, graceful stops, run-time
//! table changes.

mod drain;
mod hitless;
mod tables;
