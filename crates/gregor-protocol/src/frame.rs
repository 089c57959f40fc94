//! Length-prefixed framing of requests and responses.
