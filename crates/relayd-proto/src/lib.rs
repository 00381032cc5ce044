//! The wire between relayd's processes and between relayctl and relayd:
//! imsg frames (a small header, a bincode payload, an optional descriptor
//! passed with SCM_RIGHTS) and one message enum per channel.
