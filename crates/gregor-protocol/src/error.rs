//! The one error type of the codec.

use std::fmt;

/// Where in a message a decode or encode error happened.
///
/// Primitive readers know the field; the message-level entry points fill in
/// the message name and version, so an error reads like
/// `MetadataResponse v12, field topics.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// The message (or record structure) being decoded, e.g. `MetadataResponse`.
    pub message: &'static str,
    /// The message version, or -1 when the structure is unversioned.
    pub version: i16,
    /// The field being read or written.
    pub field: &'static str,
}

impl Location {
    /// A location that names only a field; the message is filled in later.
    pub const fn field(field: &'static str) -> Self {
        Self {
            message: "",
            version: -1,
            field,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.message.is_empty(), self.version >= 0) {
            (true, _) => write!(f, "field {}", self.field),
            (false, true) => write!(
                f,
                "{} v{}, field {}",
                self.message, self.version, self.field
            ),
            (false, false) => write!(f, "{}, field {}", self.message, self.field),
        }
    }
}

/// Everything that can go wrong while encoding or decoding Kafka wire data.
///
/// No variant is ever produced by a panic: every decoder checks lengths
/// against the bytes that remain before it allocates.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input ended before a value was complete.
    #[error("{at}: truncated input, needed {needed} bytes but {remaining} remain")]
    Truncated {
        /// Where.
        at: Location,
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count on the wire cannot be satisfied by the bytes that remain,
    /// or is negative where null is not allowed.
    #[error("{at}: length {length} is invalid with {remaining} bytes remaining")]
    BadLength {
        /// Where.
        at: Location,
        /// The length read from the wire.
        length: i64,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A string was not valid UTF-8.
    #[error("{at}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// Where.
        at: Location,
    },
    /// A varint ran past its maximum width.
    #[error("{at}: varint is longer than {max_bytes} bytes")]
    VarintTooLong {
        /// Where.
        at: Location,
        /// The widest legal encoding.
        max_bytes: usize,
    },
    /// A value was read that the protocol does not allow.
    #[error("{at}: {reason}")]
    InvalidValue {
        /// Where.
        at: Location,
        /// What was wrong.
        reason: &'static str,
    },
    /// A message was asked to encode or decode at a version it does not have.
    #[error("{message} has no version {version} (valid versions {min}-{max})")]
    UnsupportedVersion {
        /// The message.
        message: &'static str,
        /// The version asked for.
        version: i16,
        /// Lowest valid version.
        min: i16,
        /// Highest valid version.
        max: i16,
    },
    /// A field holds a non-default value that the chosen version cannot carry;
    /// sending it would silently drop information.
    #[error("{message} v{version} cannot carry field {field} (set to a non-default value)")]
    FieldNotInVersion {
        /// The message.
        message: &'static str,
        /// The version being encoded.
        version: i16,
        /// The field.
        field: &'static str,
    },
    /// A field that is not nullable in this version was null.
    #[error("{at}: null is not allowed here")]
    NullNotAllowed {
        /// Where.
        at: Location,
    },
    /// A value is too large for its length prefix.
    #[error("{at}: {length} bytes do not fit the field's length prefix")]
    TooLong {
        /// Where.
        at: Location,
        /// The length that did not fit.
        length: usize,
    },
    /// A frame announced a size over the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// Announced size.
        size: i64,
        /// The configured maximum.
        max: usize,
    },
    /// The peer's bytes look like another protocol.
    #[error(
        "the peer does not speak Kafka: its bytes look like {looks_like}; is this the broker's plaintext Kafka port?"
    )]
    NotKafka {
        /// What the bytes look like (HTTP, a TLS record, ...).
        looks_like: &'static str,
    },
    /// A record batch's CRC-32C did not match its contents.
    #[error(
        "record batch at base offset {base_offset}: CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        /// The batch's base offset.
        base_offset: i64,
        /// CRC stored in the batch.
        stored: u32,
        /// CRC computed over the batch.
        computed: u32,
    },
    /// A batch used a compression codec this build does not know or was built without.
    #[error("compression codec {codec} is {reason}")]
    Compression {
        /// The codec (`gzip`, `snappy`, `lz4`, `zstd`, or its number).
        codec: String,
        /// What went wrong, e.g. "not enabled in this build" or the codec's own error.
        reason: String,
    },
    /// Decompression produced more bytes than the configured limit.
    #[error("decompressed {codec} data exceeds the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The codec.
        codec: &'static str,
        /// The configured limit.
        limit: usize,
    },
}

impl Error {
    /// Whether retrying the same operation can succeed. Codec errors are about
    /// the bytes themselves, so none of them is.
    pub fn is_retriable(&self) -> bool {
        false
    }

    /// Fills in the message name and version of a location-carrying error
    /// that does not have them yet.
    #[must_use]
    pub fn in_message(mut self, message: &'static str, version: i16) -> Self {
        if let Some(at) = self.location_mut()
            && at.message.is_empty()
        {
            at.message = message;
            at.version = version;
        }
        self
    }

    fn location_mut(&mut self) -> Option<&mut Location> {
        match self {
            Error::Truncated { at, .. }
            | Error::BadLength { at, .. }
            | Error::InvalidUtf8 { at }
            | Error::VarintTooLong { at, .. }
            | Error::InvalidValue { at, .. }
            | Error::NullNotAllowed { at }
            | Error::TooLong { at, .. } => Some(at),
            _ => None,
        }
    }
}

/// The codec's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
