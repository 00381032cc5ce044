//! relayd's routers on Linux (relayd.conf(5) ROUTERS): routes to each
//! `route` destination through the gateways of the router's table that
//! the hce reports up, installed over rtnetlink with relayd's own route
//! protocol, [`RTPROT_RELAYD`], so relayd only ever touches routes it made.
//!
//! This crate knows routes and routers, not processes:
//! - [`RoutePlan`] (`plan.rs`): a configuration's routers checked and
//!   translated once (kernel table, realm for `rtlabel`, destinations,
//!   gateways with their metric); refuses what Linux cannot do.
//! - [`Desired`] (`desired.rs`): what the enabled routers want given each
//!   gateway's [`GatewayState`]; a gateway not checked yet keeps the
//!   routes it has and gains none.
//! - [`reconcile::changes`] (`reconcile.rs`): desired against installed,
//!   the fewest changes, pure and idempotent.
//! - [`RouteSocket`] (`kernel/`): a blocking rtnetlink socket listing,
//!   adding, replacing and deleting routes of relayd's protocol.
//! - [`Installer`] (`installer.rs`): the socket plus what is installed;
//!   `apply` brings the kernel to a [`Desired`].
//! - [`Realms`] (`realms.rs`): `rtlabel` names from iproute2's
//!   `rt_realms`.
//!
//! Multipath: gateways of equal metric share one route (one nexthop each,
//! equal weights); gateways of different `priority` are routes of their
//! own at their own metric, the lowest preferred, as on OpenBSD.

pub mod desired;
pub mod installer;
pub mod kernel;
pub mod plan;
pub mod protocol;
pub mod realms;
pub mod reconcile;
pub mod route;

pub use desired::{Desired, GatewayState, Wanted};
pub use installer::{Applied, ApplyError, Installer};
pub use kernel::{KernelError, Operation, RouteSocket};
pub use plan::{
    PlanError, PlanErrors, PlannedGateway, PlannedRouter, Problem, RoutePlan, UnknownRouter,
};
pub use protocol::{PROTOCOL_NAME, RTPROT_RELAYD};
pub use realms::{LabelError, Realms, RealmsFileError};
pub use reconcile::{Change, Installed};
pub use route::{Destination, InvalidPrefix, Route, RouteKey, MAIN_TABLE};
