//! parent <-> metrics (the Prometheus endpoint). The metrics process holds
//! no state of its own: for every scrape it asks the parent for the text,
//! which the parent renders from its status mirror.

use super::{ToChild, ToParent};
use crate::channel::ImsgChannel;
use crate::correlate::RequestId;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// parent -> metrics, beside the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToMetrics {
    /// The bound listening socket of `metrics listen on` in the
    /// configuration being rolled out (sent before its `ConfigDone`); the
    /// frame's descriptor.
    ListenSocket(SocketAddr),
    /// The answer to [`MetricsToParent::Scrape`]: the Prometheus text
    /// exposition format.
    Exposition { request_id: RequestId, text: String },
}

/// metrics -> parent, beside the lifecycle answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricsToParent {
    /// A client asked for the metrics: send the text.
    Scrape { request_id: RequestId },
}

/// The parent's end.
pub type ParentMetricsChannel = ImsgChannel<ToChild<ParentToMetrics>, ToParent<MetricsToParent>>;
/// The metrics process's end.
pub type MetricsParentChannel = ImsgChannel<ToParent<MetricsToParent>, ToChild<ParentToMetrics>>;
