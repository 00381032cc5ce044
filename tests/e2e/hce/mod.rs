//! The host check engine: check methods against real servers, `check tcp`
//! states over time, `check icmp` in a network namespace.

mod icmp;
mod methods;
mod tcp;
