//! End-to-end: TLS relays with real clients (curl, openssl s_client) and
//! keys made by openssl in a scratch `/etc/ssl` (`RELAYD_SSL_DIR`):
//! termination for tcp and http relays, the default keypair path, SNI,
//! keep-alive and chunked bodies over HTTPS, key files refused by name,
//! the private key's secret found in no process but the ca's, (with a
//! rustls client) websockets and `return error` pages over TLS, and (with
//! a rustls backend recording SNI, `recording.rs`) the client's SNI on
//! every backend connection of an inspected session.

mod backends;
mod inspect;
mod isolation;
mod options;
mod recording;
mod reload;
mod robust;
mod termination;
mod upgrade;
