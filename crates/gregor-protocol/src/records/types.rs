//! The value types of the record layer: records, headers, codecs, timestamp
//! types and transaction control records.

use bytes::Bytes;

use crate::error::{Error, Location, Result};
use crate::wire::Reader;

/// A compression codec, with a level for the codecs whose encoder takes one.
///
/// Decoded batches report the codec with the default level (`None`): the
/// level is not on the wire. Compare codecs with [`Compression::id`] when the
/// level does not matter.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (codec id 0).
    #[default]
    None,
    /// gzip (codec id 1). `level` is 0-9; `None` is zlib's default, 6, as
    /// in the Java client.
    Gzip {
        /// The DEFLATE level, 0-9.
        level: Option<u32>,
    },
    /// Snappy (codec id 2), written in the xerial framing the Java client
    /// uses; raw snappy is accepted on decode too.
    Snappy,
    /// LZ4 frame format (codec id 3). The pure-Rust encoder has one level.
    Lz4,
    /// Zstandard (codec id 4, message format v2 only). `level` follows zstd
    /// (1-22, negative for the fast levels); `None` is 3, Kafka's default.
    Zstd {
        /// The zstd level.
        level: Option<i32>,
    },
}

impl Compression {
    /// gzip at the default level.
    pub const GZIP: Compression = Compression::Gzip { level: None };
    /// zstd at the default level.
    pub const ZSTD: Compression = Compression::Zstd { level: None };

    /// The codec id stored in the low three attribute bits.
    pub fn id(self) -> i8 {
        match self {
            Compression::None => 0,
            Compression::Gzip { .. } => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd { .. } => 4,
        }
    }

    /// The codec for a wire id, with the default level; `None` for ids this
    /// crate does not know.
    pub fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::GZIP,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::ZSTD,
            _ => return None,
        })
    }

    /// The codec's name as Kafka configuration spells it (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip { .. } => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd { .. } => "zstd",
        }
    }

    /// Whether this is [`Compression::None`].
    pub fn is_none(self) -> bool {
        matches!(self, Compression::None)
    }
}

/// What a batch's timestamps mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; every record of the
    /// batch then carries the batch's `max_timestamp`.
    LogAppendTime,
    /// Message format v0, which has no timestamps (all are -1).
    NoTimestampType,
}

/// A record header. Kafka header keys are strings, but nothing on the wire
/// guarantees UTF-8, so the key is kept as bytes rather than refusing a
/// batch another client wrote; [`Header::key_str`] gives the string view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// The header key.
    pub key: Bytes,
    /// The header value; `None` is a null value, distinct from empty.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A header with a null value.
    pub fn null(key: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: None,
        }
    }

    /// The key as a string, or `None` when it is not UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// One record. On decode, `offset` and `timestamp` are absolute (the batch's
/// base plus the record's delta); key, value and header values are
/// zero-copy slices of the fetched bytes when the batch is uncompressed, and
/// of one decompressed buffer per batch otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// The record's absolute offset.
    pub offset: i64,
    /// The record's timestamp in milliseconds since the epoch, -1 if none.
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone in a compacted topic).
    pub value: Option<Bytes>,
    /// The headers, in wire order (keys may repeat).
    pub headers: Vec<Header>,
}

impl Record {
    /// Whether the value is null, which log compaction treats as a delete.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// The type of a control record, from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordKind {
    /// A transaction was aborted (type 0).
    Abort,
    /// A transaction was committed (type 1).
    Commit,
    /// Another control type (KRaft leader change, snapshot markers, ...),
    /// which consumers skip.
    Unknown(i16),
}

impl ControlRecordKind {
    /// The type id on the wire.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordKind::Abort => 0,
            ControlRecordKind::Commit => 1,
            ControlRecordKind::Unknown(id) => id,
        }
    }

    /// The kind for a type id.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordKind::Abort,
            1 => ControlRecordKind::Commit,
            other => ControlRecordKind::Unknown(other),
        }
    }
}

/// The content of a control batch's record: a transaction marker.
///
/// The key is `{version: int16, type: int16}`; for commit and abort markers
/// the value is `{version: int16, coordinator_epoch: int32}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// Commit, abort or another type.
    pub kind: ControlRecordKind,
    /// The transaction coordinator's epoch; -1 for kinds other than commit
    /// and abort, whose value has another schema.
    pub coordinator_epoch: i32,
}

impl ControlRecord {
    /// The key and value schema version this crate writes.
    pub const VERSION: i16 = 0;

    /// A commit marker.
    pub fn commit(coordinator_epoch: i32) -> Self {
        Self {
            kind: ControlRecordKind::Commit,
            coordinator_epoch,
        }
    }

    /// An abort marker.
    pub fn abort(coordinator_epoch: i32) -> Self {
        Self {
            kind: ControlRecordKind::Abort,
            coordinator_epoch,
        }
    }

    /// Parses a control record from a record of a control batch.
    ///
    /// Higher schema versions are accepted with their extra bytes ignored,
    /// as the Java client does; a negative version is an error.
    pub fn from_record(record: &Record) -> Result<Self> {
        let key = record.key.clone().ok_or(Error::NullNotAllowed {
            at: Location::field("control_record.key"),
        })?;
        let mut r = Reader::new(key);
        Self::version(&mut r, "control_record.key.version")?;
        let kind = ControlRecordKind::from_id(r.i16("control_record.key.type")?);
        if !matches!(kind, ControlRecordKind::Abort | ControlRecordKind::Commit) {
            return Ok(Self {
                kind,
                coordinator_epoch: -1,
            });
        }
        let value = record.value.clone().ok_or(Error::NullNotAllowed {
            at: Location::field("control_record.value"),
        })?;
        let mut r = Reader::new(value);
        Self::version(&mut r, "control_record.value.version")?;
        let coordinator_epoch = r.i32("control_record.value.coordinator_epoch")?;
        Ok(Self {
            kind,
            coordinator_epoch,
        })
    }

    fn version(r: &mut Reader, field: &'static str) -> Result<i16> {
        let v = r.i16(field)?;
        if v < 0 {
            return Err(Error::InvalidValue {
                at: Location::field(field),
                reason: "control record version is negative",
            });
        }
        Ok(v)
    }

    /// The record key as written on the wire.
    pub fn key_bytes(&self) -> [u8; 4] {
        let [v0, v1] = Self::VERSION.to_be_bytes();
        let [t0, t1] = self.kind.id().to_be_bytes();
        [v0, v1, t0, t1]
    }

    /// The record value as written on the wire (the end-transaction marker).
    pub fn value_bytes(&self) -> [u8; 6] {
        let [v0, v1] = Self::VERSION.to_be_bytes();
        let [e0, e1, e2, e3] = self.coordinator_epoch.to_be_bytes();
        [v0, v1, e0, e1, e2, e3]
    }
}

/// Limits and checks applied while decoding fetched records.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The most bytes one compressed batch (or legacy wrapper message) may
    /// decompress to; more is [`Error::DecompressedTooLarge`]. The limit is
    /// enforced while reading, never by trusting a size in the stream.
    pub max_decompressed_bytes: usize,
    /// Whether to verify each batch's CRC (CRC-32C for v2, CRC-32 for v0/v1).
    pub verify_crc: bool,
}

impl DecodeOptions {
    /// The default decompression limit, 64 MiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

    /// The defaults: a 64 MiB decompression limit and CRC checks on.
    pub const fn new() -> Self {
        Self {
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
            verify_crc: true,
        }
    }

    /// These options with another decompression limit.
    #[must_use]
    pub const fn with_max_decompressed_bytes(mut self, limit: usize) -> Self {
        self.max_decompressed_bytes = limit;
        self
    }

    /// These options with CRC checks on or off.
    #[must_use]
    pub const fn with_verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::new()
    }
}
