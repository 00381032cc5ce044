//! `http protocol` relays against a real HTTP/1.1 backend: the basics,
//! message framing, robustness, the filter rules, the strict reading
//! of bad input (exact bytes to a backend that records them), backend
//! connection reuse, bodies moved with splice(2).

mod basics;
mod framing;
mod reuse;
mod robust;
mod rules;
mod spliced;
mod strict;
