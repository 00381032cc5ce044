//! `http protocol` relays against a real HTTP/1.1 backend: the basics,
//! message framing, robustness, and the filter rules.

mod basics;
mod framing;
mod robust;
mod rules;
