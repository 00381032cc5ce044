//! The result codes of a host check (relayd's `enum host_error`). They
//! live in relayd-proto, as the host states do, because they travel with
//! every host status and relayctl prints them.

pub use relayd_proto::host_error::HostError;
