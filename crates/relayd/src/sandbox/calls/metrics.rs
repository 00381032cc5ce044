//! The metrics process: answers scrapes on the listening socket the parent
//! bound, asking the parent for each one's text. It opens nothing.

use super::Rule::{self, Always};
use syscalls::Sysno;

pub const CALLS: &[Rule] = &[
    // Scrapers.
    Always(Sysno::accept4),
];
