//! Kafka's primitive types: fixed-width integers, varints, strings, bytes,
//! arrays and tagged fields, in both classic and compact ("flexible") forms.

mod reader;
mod types;
mod writer;

pub use reader::Reader;
pub use types::{RawTaggedField, StrBytes, Uuid};
pub use writer::Writer;

#[cfg(test)]
mod tests;
