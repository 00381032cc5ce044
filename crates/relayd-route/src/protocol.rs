//! relayd's route protocol number: the mark on every route relayd adds,
//! and the only routes it ever changes or removes.
//!
//! 147 is assigned neither by Linux (`RTPROT_*` in linux/rtnetlink.h,
//! numbers up to 4 mean something to the kernel, the rest belong to
//! routing daemons) nor in iproute2's `rt_protos`, and no routing daemon
//! we know of uses it. A line `147 relayd` in
//! `/etc/iproute2/rt_protos.d/relayd.conf` makes `ip route` print and
//! accept the name (`ip route show proto relayd`).

/// The `rtm_protocol` of relayd's routes.
pub const RTPROT_RELAYD: u8 = 147;

/// Its name for iproute2.
pub const PROTOCOL_NAME: &str = "relayd";
