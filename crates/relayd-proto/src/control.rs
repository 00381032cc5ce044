//! The control protocol between relayctl (client) and the relayd parent
//! (server) on the control socket, in the same imsg framing as the internal
//! channels.
//!
//! A connection opens with a handshake: relayctl sends
//! [`ControlRequest::Hello`] with its [`CONTROL_VERSION`] and the parent
//! answers [`ControlReply::Hello`] with its own. Both are variant 0 of
//! their enum with the same shape in every build, so two builds that
//! disagree on everything else still read each other's version: on a
//! mismatch relayctl says [`VersionMismatch`] and the parent closes the
//! connection without reading anything more (the layout may be different).
//! relayctl sends its request once it has the parent's `Hello`.
//!
//! Every request gets an answer:
//! - `Show*`: rows, then [`ControlReply::End`]. The parent may answer every
//!   `Show*` but `ShowSessions` with the full summary stream (redirects with
//!   their tables and hosts, relays with theirs, routers); relayctl keeps the
//!   rows its command asked for, as relayd does.
//! - enable/disable (hosts, tables, redirects, routers), `Poll`, `Reload`,
//!   `Load`, `Shutdown`, `Drain`, `TableAdd`, `TableRemove`, `LogBrief`,
//!   `LogVerbose`: one [`ControlReply::Ok`]
//!   or [`ControlReply::Failed`].
//! - `ShowMetrics`: one [`ControlReply::Metrics`], then `End`.
//! - `Monitor`: [`ControlReply::Event`]s until either side closes.

use crate::channel::{BlockingChannel, ImsgChannel};
use crate::status::{HostRow, HostStatus, RedirectRow, RelayRow, RouterRow, SessionRow, TableRow};
use relayd_config::ObjectId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of the messages in this module and in `status`. Bump it with
/// every change to them (the `control_version` test notices a change).
pub const CONTROL_VERSION: u32 = 11;

/// relayctl and relayd were built with different control messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("relayctl protocol version {relayctl}, relayd speaks {relayd}")]
pub struct VersionMismatch {
    pub relayctl: u32,
    pub relayd: u32,
}

/// Whether a relayctl speaking `relayctl` and a relayd speaking `relayd`
/// understand each other.
pub fn check_version(relayctl: u32, relayd: u32) -> Result<(), VersionMismatch> {
    if relayctl == relayd {
        Ok(())
    } else {
        Err(VersionMismatch { relayctl, relayd })
    }
}

/// An object named on the relayctl command line: a number is an id,
/// anything else a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Id(ObjectId),
    Name(String),
}

impl Target {
    /// Parses a command-line word the way relayctl does.
    pub fn parse(word: &str) -> Target {
        match word.parse::<ObjectId>() {
            Ok(id) => Target::Id(id),
            Err(_) => Target::Name(word.to_string()),
        }
    }

    /// Whether this target designates the object `id` named `name`.
    pub fn matches(&self, id: ObjectId, name: &str) -> bool {
        match self {
            Target::Id(want) => *want == id,
            Target::Name(want) => want == name,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Id(id) => write!(f, "{id}"),
            Target::Name(name) => f.write_str(name),
        }
    }
}

/// relayctl -> parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlRequest {
    /// First message of every connection. Stays variant 0 with this shape.
    Hello {
        version: u32,
    },
    ShowSummary,
    ShowHosts,
    ShowRedirects,
    ShowRelays,
    ShowRouters,
    ShowSessions,
    HostEnable(Target),
    HostDisable(Target),
    TableEnable(Target),
    TableDisable(Target),
    RedirectEnable(Target),
    RedirectDisable(Target),
    /// Reload the configuration file the daemon was started with.
    Reload,
    /// Reload from another file.
    Load(String),
    /// Check all hosts now.
    Poll,
    /// Stream events until the client disconnects.
    Monitor,
    LogBrief,
    LogVerbose,
    /// `relayctl stop`: shut the daemon down.
    Shutdown,
    /// `relayctl router enable|disable`: a router's routes come back (as
    /// its gateways are up) or go. Not in OpenBSD's relayctl.
    RouterEnable(Target),
    RouterDisable(Target),
    /// `relayctl drain [SECONDS]`: stop accepting, let open sessions end
    /// (at most SECONDS, or relayd's default bound), then exit. Not in
    /// OpenBSD's relayctl.
    Drain {
        seconds: Option<u32>,
    },
    /// `relayctl show metrics`: the Prometheus text exposition format. Not
    /// in OpenBSD's relayctl.
    ShowMetrics,
    /// `relayctl table add TABLE HOST`: a host (an address) joins a running
    /// table; root only. Not in OpenBSD's relayctl.
    TableAdd {
        table: Target,
        host: String,
    },
    /// `relayctl table remove TABLE HOST`: a host (id, name or address)
    /// leaves a running table; root only. Not in OpenBSD's relayctl.
    TableRemove {
        table: Target,
        host: Target,
    },
}

/// An object id with its name, as relayd's `ctl_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IdName {
    pub id: ObjectId,
    pub name: String,
}

/// Something that changed, sent to `monitor` clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitorEvent {
    HostStatus(HostStatus),
    RedirectDisabled(IdName),
    RedirectEnabled(IdName),
    TableDisabled(IdName),
    TableEnabled(IdName),
    HostDisabled(IdName),
    HostEnabled(IdName),
    /// The set of active hosts of a table changed.
    TableChanged(IdName),
    /// A check round finished.
    Sync,
    RouterDisabled(IdName),
    RouterEnabled(IdName),
}

impl MonitorEvent {
    /// The event name relayctl prints, as relayd's imsg names.
    pub fn name(&self) -> &'static str {
        match self {
            MonitorEvent::HostStatus(_) => "host_status",
            MonitorEvent::RedirectDisabled(_) => "ctl_rdr_disable",
            MonitorEvent::RedirectEnabled(_) => "ctl_rdr_enable",
            MonitorEvent::TableDisabled(_) => "ctl_table_disable",
            MonitorEvent::TableEnabled(_) => "ctl_table_enable",
            MonitorEvent::HostDisabled(_) => "ctl_host_disable",
            MonitorEvent::HostEnabled(_) => "ctl_host_enable",
            MonitorEvent::TableChanged(_) => "ctl_table_changed",
            MonitorEvent::Sync => "sync",
            // relayd has no such imsg: named as its other switches.
            MonitorEvent::RouterDisabled(_) => "ctl_router_disable",
            MonitorEvent::RouterEnabled(_) => "ctl_router_enable",
        }
    }
}

/// parent -> relayctl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlReply {
    /// Answer to [`ControlRequest::Hello`]. Stays variant 0 with this shape.
    Hello {
        version: u32,
    },
    Redirect(RedirectRow),
    Table(TableRow),
    Host(HostRow),
    Relay(RelayRow),
    Router(RouterRow),
    Session(SessionRow),
    /// The command was carried out.
    Ok,
    /// The command failed; the text says why (may be empty).
    Failed(String),
    /// Last row of a `Show*` answer.
    End,
    Event(MonitorEvent),
    /// The answer to [`ControlRequest::ShowMetrics`] (then `End`): text in
    /// the Prometheus exposition format, version 0.0.4.
    Metrics(String),
}

/// The parent's end of one control connection.
pub type ControlServer = ImsgChannel<ControlReply, ControlRequest>;

/// relayctl's end, blocking.
pub type ControlClient = BlockingChannel<ControlRequest, ControlReply>;
