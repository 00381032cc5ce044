//! Routers (relayd.conf(5) ROUTERS) with the daemon: relayd runs in the
//! router namespace of an `e2e::RouteLab`, checks the gateways there with
//! `check icmp` and keeps the routes through those that answer; iproute2
//! is the witness of every route.
//!
//! - `gateways`: multipath through both gateways, a gateway whose check
//!   fails leaves and comes back, host and router switches, reload, and
//!   routes of other programs that survive all of it;
//! - `restart`: the routes stay when relayd stops, a restart or a reload
//!   removes what the new configuration does not route, a route of
//!   another program where relayd's would go keeps relayd out;
//! - `placement`: relayd.conf(5)'s EXAMPLES router, `rtable`, `priority`
//!   and `rtlabel`, an IPv6 router.

mod gateways;
mod placement;
mod restart;
