//! # gregor-protocol
//!
//! The sans-io Kafka wire codec under every other Gregor crate, and the one
//! crate a custom Kafka tool needs: every request, response, header and data
//! schema generated from Kafka's own JSON message specs, record batches
//! (v2 and the legacy message sets), compression, framing and error codes.
//!
//! It does no I/O and pulls in no async runtime. Every decoder returns a
//! [`Result`]; lengths are checked against the bytes that remain before
//! anything is allocated, so no input can make it panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod error;
pub mod error_code;
pub mod frame;
pub mod generated;
pub mod message;
pub mod records;
pub mod request;
pub mod wire;

pub use error::{Error, Location, Result};
pub use error_code::ErrorCode;
pub use generated as messages;
pub use generated::ApiKey;
pub use message::{Decode, Encode, Message, Request, VersionRange};
pub use records::{
    Compression, DecodeOptions, Record, RecordBatch, RecordBatchBuilder, decode_records,
};
pub use wire::{RawTaggedField, Reader, StrBytes, Uuid, Writer};
