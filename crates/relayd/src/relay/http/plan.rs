//! What an `http protocol` adds to a relay's plan.

use relayd_config::{FilterRule, HttpOptions, Protocol, ReturnError};

#[derive(Debug, Clone)]
pub struct HttpPlan {
    /// `http { headerlen, websockets }`
    pub options: HttpOptions,
    /// Filter rules, in file order.
    pub rules: Vec<FilterRule>,
    /// `return error [style ...]`: blocked requests get an error page.
    pub return_error: Option<ReturnError>,
    /// Bodies between plain sockets move with splice(2) (`tcp { splice }`,
    /// the default).
    pub splice: bool,
}

impl HttpPlan {
    pub fn new(protocol: &Protocol) -> HttpPlan {
        HttpPlan {
            options: protocol.http.clone(),
            rules: protocol.rules.clone(),
            return_error: protocol.return_error.clone(),
            splice: protocol.tcp.splice,
        }
    }

    /// The longest request head accepted (`http { headerlen }`).
    pub fn headerlen(&self) -> usize {
        usize::try_from(self.options.headerlen).unwrap_or(usize::MAX)
    }
}
