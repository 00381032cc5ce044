//! TCP relays: to a fixed address, to tables with every scheduling mode,
//! and to targets found per connection (transparent, original destination).

mod fixed;
mod forward;
mod tables;
