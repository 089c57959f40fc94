//! The traits every generated message implements.

use std::fmt::Debug;

use crate::error::{Error, Result};
use crate::generated::ApiKey;
use crate::wire::{Reader, Writer};

/// An inclusive range of message versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Lowest version.
    pub min: i16,
    /// Highest version.
    pub max: i16,
}

impl VersionRange {
    /// Whether `version` is in the range.
    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The highest version both ranges contain, if any.
    pub fn highest_common(&self, other: &VersionRange) -> Option<i16> {
        let hi = self.max.min(other.max);
        let lo = self.min.max(other.min);
        (lo <= hi).then_some(hi)
    }
}

/// Writes a value at a given protocol version.
pub trait Encode {
    /// Appends the value's bytes for `version` to `w`.
    fn encode(&self, w: &mut Writer, version: i16) -> Result<()>;
}

/// Reads a value at a given protocol version.
pub trait Decode: Sized {
    /// Reads one value for `version` from `r`.
    fn decode(r: &mut Reader, version: i16) -> Result<Self>;
}

/// A top-level message from Kafka's specs: a request, a response, a header
/// or a data schema.
pub trait Message:
    Encode + Decode + Default + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// The spec's name, e.g. `MetadataRequest`.
    const NAME: &'static str;
    /// The versions this message has.
    const VERSIONS: VersionRange;
    /// The first flexible version (compact types and tagged fields), if any.
    const FLEXIBLE_FROM: Option<i16>;

    /// Whether `version` uses the flexible encoding.
    fn is_flexible(version: i16) -> bool {
        Self::FLEXIBLE_FROM.is_some_and(|f| version >= f)
    }

    /// Checks that `version` is one of this message's versions.
    fn check_version(version: i16) -> Result<()> {
        if Self::VERSIONS.contains(version) {
            Ok(())
        } else {
            Err(Error::UnsupportedVersion {
                message: Self::NAME,
                version,
                min: Self::VERSIONS.min,
                max: Self::VERSIONS.max,
            })
        }
    }

    /// Encodes the whole message at `version` into new bytes.
    fn encode_to_bytes(&self, version: i16) -> Result<bytes::Bytes> {
        Self::check_version(version)?;
        let mut w = Writer::new();
        self.encode(&mut w, version)
            .map_err(|e| e.in_message(Self::NAME, version))?;
        Ok(w.freeze())
    }

    /// Decodes a whole message at `version`, refusing trailing bytes.
    fn decode_from_bytes(bytes: bytes::Bytes, version: i16) -> Result<Self> {
        Self::check_version(version)?;
        let mut r = Reader::new(bytes);
        let m = Self::decode(&mut r, version).map_err(|e| e.in_message(Self::NAME, version))?;
        if !r.is_empty() {
            return Err(Error::InvalidValue {
                at: crate::error::Location {
                    message: Self::NAME,
                    version,
                    field: "(end)",
                },
                reason: "trailing bytes after the message",
            });
        }
        Ok(m)
    }
}

/// A request message: it knows its API key and the response it gets back.
///
/// Implemented by every generated `*Request`; framing uses it to pick the
/// header version and to decode the matching response.
///
/// ```
/// use gregor_protocol::{ApiKey, Message, Request};
/// use gregor_protocol::messages::MetadataRequest;
///
/// assert_eq!(MetadataRequest::API_KEY, ApiKey::Metadata);
/// assert_eq!(<MetadataRequest as Request>::Response::NAME, "MetadataResponse");
/// ```
pub trait Request: Message {
    /// The API this request belongs to.
    const API_KEY: ApiKey;
    /// The response the broker sends back.
    type Response: Message;
}
