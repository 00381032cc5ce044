//! The wire between relayd's processes and between relayctl and relayd:
//! imsg frames (a small header, a bincode payload, an optional descriptor
//! passed with SCM_RIGHTS) and one message enum per channel.
//!
//! - [`frame`]: header layout, encoding, the stream decoder.
//! - [`channel`]: typed async channels ([`ImsgChannel`]) and a blocking one;
//!   [`ImsgSender`] shares one writer between tasks.
//! - [`messages`]: the enums of each parent/child and child/child channel,
//!   and the lifecycle every parent -> child channel shares.
//! - [`control`]: relayctl's requests and the parent's replies.
//! - [`status`]: runtime state rows shared by the daemon and relayctl;
//!   [`host_error`]: the checks' result codes they carry (relayd's `HCE_*`).
//! - [`config_sync`]: cutting a configuration into parts for each child.
//! - [`correlate`]: matching answers to requests by id, one or many
//!   responders.

pub mod channel;
pub mod config_sync;
pub mod control;
pub mod correlate;
pub mod error;
mod fdpass;
pub mod frame;
pub mod host_error;
pub mod kind;
pub mod messages;
pub mod process;
mod sender;
pub mod status;

pub use channel::{BlockingChannel, ImsgChannel, ImsgReader, ImsgWriter, Received};
pub use config_sync::{config_parts, ConfigAssembler, ConfigPart, PartKind};
pub use control::{
    ControlClient, ControlReply, ControlRequest, ControlServer, MonitorEvent, Target,
    VersionMismatch, CONTROL_VERSION,
};
pub use correlate::{
    Correlator, Delivery, FanOut, Gathered, Gathering, Pending, RequestId, WaitError,
};
pub use error::ImsgError;
pub use frame::{Header, MAX_FRAME_SIZE};
pub use kind::{envelope_kind, message_kind, MessageKind};
pub use process::ProcessKind;
pub use sender::ImsgSender;
