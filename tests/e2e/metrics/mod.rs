//! Prometheus metrics: `relayctl show metrics` and the `metrics listen on`
//! endpoint, checked with Debian's `promtool` and scraped by a real
//! `prometheus`; relays' byte counters (`bytes`).

mod bytes;
mod endpoint;
mod relayctl;
