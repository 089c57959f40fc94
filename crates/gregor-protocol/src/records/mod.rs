//! Record batches (v2) and legacy message sets, with compression.
//!
//! The `records` field of a Fetch response goes to [`decode_records`] (or
//! the lazy [`RecordBatchReader`]), which yields [`RecordBatch`]es of any
//! format (v2 batches, and v0/v1 messages presented as batches the way the
//! Java client does) and reports a batch cut short by the fetch size as a
//! [`PartialBatch`] instead of an error. Producers build a v2 batch with
//! [`RecordBatchBuilder`], or encode a [`RecordBatch`] they hold; old
//! brokers get a legacy set from [`encode_message_set`].
//!
//! Decoding checks every CRC (CRC-32C for v2, CRC-32 for v0/v1) unless
//! told not to, bounds decompression by
//! [`DecodeOptions::max_decompressed_bytes`], and checks every count against
//! the bytes left before allocating for it. Keys, values and header values
//! are [`Bytes`](bytes::Bytes) slices of the input (or of the one
//! decompressed buffer of a compressed batch): nothing is copied per record.

mod batch;
mod builder;
mod compression;
mod legacy;
mod reader;
mod record;
mod types;

pub use batch::{LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, RecordBatch};
pub use builder::RecordBatchBuilder;
pub use legacy::encode_message_set;
pub use reader::{DecodedRecords, PartialBatch, RecordBatchReader, decode_records};
pub use types::{
    Compression, ControlRecord, ControlRecordKind, DecodeOptions, Header, Record, TimestampType,
};
