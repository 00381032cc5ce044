//! Payloads used on several channels.

use crate::correlate::RequestId;
use crate::process::ProcessKind;
use relayd_config::{IpProto, ObjectId};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The message type of a direction that carries nothing; it cannot be
/// constructed, so receiving anything on such a channel is a decode error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoMessage {}

/// Hands over one end of a socketpair to another child (relayd's
/// `IMSG_CTL_PROCFD`); the socket is the frame's descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerChannel {
    /// Who is at the other end.
    pub peer: ProcessKind,
    /// Its instance number (relay and ca processes are numbered from 0).
    pub instance: u32,
}

/// Address family of a raw ICMP socket handed to hce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IcmpFamily {
    V4,
    V6,
}

/// A listening socket bound by the parent for a relay; the socket is the
/// frame's descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenSocket {
    pub relay_id: ObjectId,
    /// Index into the relay's `listen` list.
    pub index: u32,
    pub addr: SocketAddr,
    pub tls: bool,
}

/// Which TLS file of a relay a descriptor holds (relayd's `fd_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayFileKind {
    Certificate,
    CaCertificate,
    CaFile,
    Key,
    /// `tls ca key`: the TLS inspection CA's private key (to ca N only,
    /// decrypted there with the configuration's password).
    CaKey,
    Ocsp,
    /// `tls client ca`: the CAs client certificates must chain to.
    ClientCa,
}

impl std::fmt::Display for RelayFileKind {
    /// How relayd.conf(5) names the file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RelayFileKind::Certificate => "certificate",
            RelayFileKind::Key => "private key",
            RelayFileKind::Ocsp => "OCSP staple",
            RelayFileKind::CaFile => "ca file",
            RelayFileKind::CaCertificate => "ca cert",
            RelayFileKind::CaKey => "ca key",
            RelayFileKind::ClientCa => "client ca",
        })
    }
}

/// A TLS file opened by the parent for a relay or the ca; the open file is
/// the frame's descriptor. The parent only opens it: the receiver reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayFile {
    pub relay_id: ObjectId,
    /// Index into the relay's `listen` list (keypairs are per listener:
    /// the default keypair is named after the listen address).
    pub listen: u32,
    pub kind: RelayFileKind,
    /// The keypair name (`keypair NAME`, default: the listen address).
    pub name: String,
    /// The file's path, for messages.
    pub path: String,
    /// The configuration line that asks for the file.
    pub origin: relayd_config::Origin,
}

/// A relay asks the parent for a socket bound to a non-local address
/// (`transparent forward`), relayd's `IMSG_BINDANY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindAnyRequest {
    pub request_id: RequestId,
    pub relay_id: ObjectId,
    pub proto: IpProto,
    pub addr: SocketAddr,
}

/// Answer to [`BindAnyRequest`]; on success the socket is the frame's
/// descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindAnyResult {
    pub request_id: RequestId,
    pub error: Option<String>,
}

/// hce asks the parent to run a `check script` (the parent is not chrooted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRequest {
    /// Chosen by the hce, echoed in the result.
    pub request_id: RequestId,
    pub host_id: ObjectId,
    pub table_id: ObjectId,
    pub path: String,
    /// Passed as the script's argument.
    pub host_name: String,
    pub timeout_ms: u32,
}

/// Outcome of a [`ScriptRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptResult {
    pub request_id: RequestId,
    pub host_id: ObjectId,
    pub table_id: ObjectId,
    /// Exit status of the script (1: up, 0: down), or -1 if it could not run
    /// or timed out.
    pub retval: i32,
}

/// relay -> ca: sign `message` with the key whose public key hashes to
/// `key_id` (SHA-256 of the SubjectPublicKeyInfo), with TLS signature
/// scheme `scheme` (IANA code point). Signing is the only operation: the
/// ca offers no decryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOperation {
    /// Chosen by the relay, echoed in the result.
    pub request_id: RequestId,
    pub key_id: [u8; 32],
    pub scheme: u16,
    pub message: Vec<u8>,
}

/// ca -> relay: the signature, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOperationResult {
    pub request_id: RequestId,
    pub result: Result<Vec<u8>, String>,
}

/// One session ticket key, made by the parent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketKey {
    pub name: [u8; 16],
    pub secret: [u8; 32],
    /// Seconds since the Unix epoch when it was made.
    pub created: u64,
}

/// Never prints the secret.
impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKey")
            .field("name", &self.name)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// The ticket keys in use, newest first: the first encrypts, all decrypt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketKeys {
    pub keys: Vec<TicketKey>,
}
