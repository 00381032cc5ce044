//! relayd's TLS building blocks.
