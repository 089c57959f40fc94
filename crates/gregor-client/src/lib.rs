//! # gregor-client
//!
//! Gregor's Producer, Consumer and Admin, built on the connections of
//! `gregor-net` and the group coordination of `gregor-group`.
