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
//!
//! Encode a request into a frame ready for the socket, and decode a response
//! frame (this one was captured from a real broker answering librdkafka):
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use gregor_protocol::messages::{MetadataRequest, metadata_request::MetadataRequestTopic};
//! use gregor_protocol::request::{decode_response, encode_request};
//!
//! // A Metadata v12 request for one topic, framed with its size prefix.
//! let request = MetadataRequest::default()
//!     .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some("orders".into()))]))
//!     .with_allow_auto_topic_creation(false);
//! let mut frame = BytesMut::new();
//! encode_request(&mut frame, 7, Some("my-tool"), 12, &request)?;
//! assert_eq!(&frame[4..6], &[0, 3]); // API key 3: Metadata
//!
//! // A response frame body (without its size prefix), decoded zero-copy.
//! let captured = Bytes::from_static(include_bytes!(
//!     "../../../testdata/golden/librdkafka/016-Metadata-v12-response.bin"
//! ));
//! let (header, metadata) = decode_response::<MetadataRequest>(captured, 12)?;
//! assert!(header.correlation_id >= 0);
//! for broker in &metadata.brokers {
//!     println!("node {} at {}:{}", broker.node_id, broker.host, broker.port);
//! }
//! assert!(!metadata.brokers.is_empty());
//! # Ok::<(), gregor_protocol::Error>(())
//! ```
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
