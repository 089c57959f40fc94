//! # gregor-group
//!
//! Consumer-group coordination as a sans-io state machine: it takes broker
//! responses and the current time as inputs and emits requests, timeouts and
//! assignment events, so it is tested by stepping time without any runtime.
//! Also the partition assignors and offset bookkeeping.
