//! `http protocol` relays against a real HTTP/1.1 backend: the basics,
//! message framing, robustness, the filter rules, and the strict reading
//! of bad input (exact bytes to a backend that records them).

mod basics;
mod framing;
mod robust;
mod rules;
mod strict;
