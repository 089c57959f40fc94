//! The ApiVersions exchange every connection starts with.

use bytes::Bytes;
use gregor_protocol::error_code::ErrorCode;
use gregor_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use gregor_protocol::request::decode_response;
use gregor_protocol::{ApiKey, Request, VersionRange};

use super::Connection;
use crate::error::{Error, Result};
use crate::versions::{BrokerVersions, client_versions};

/// Asks the broker which versions it supports.
///
/// Starts at the highest ApiVersions version this client has. A broker that
/// does not know it answers `UNSUPPORTED_VERSION` in a version 0 response
/// and, since Kafka 2.4, lists the ApiVersions range it does support; the
/// request is then repeated at the highest version it supports (0 if it
/// listed none), like the Java client. The version strictly decreases, so
/// this ends.
pub(super) async fn negotiate(conn: &Connection) -> Result<BrokerVersions> {
    let ours = client_versions(ApiKey::ApiVersions);
    let config = &conn.shared.config;
    let req = ApiVersionsRequest::default()
        .with_client_software_name(config.client_software_name())
        .with_client_software_version(config.client_software_version());
    let mut version = ours.max;
    loop {
        let frame = conn
            .round_trip(&req, version)
            .await
            .map_err(|e| e.root().clone())?;
        let resp = decode(conn, frame, version)?;
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => return Ok(BrokerVersions::from_response(&resp)),
            ErrorCode::UnsupportedVersion => {
                let theirs = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions.code())
                    .map(|k| VersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    });
                let next = theirs.map_or(0, |r| r.max).min(ours.max);
                tracing::debug!(
                    broker = %conn.shared.broker,
                    tried = version,
                    retry_at = next,
                    "broker does not support this ApiVersions version"
                );
                if next >= version || next < ours.min {
                    return Err(Error::UnsupportedVersion {
                        broker: conn.shared.broker.clone(),
                        api: ApiKey::ApiVersions,
                        requested: Some(version),
                        client_versions: ours,
                        broker_versions: theirs,
                    });
                }
                version = next;
            }
            code => {
                return Err(Error::Broker {
                    broker: conn.shared.broker.clone(),
                    code,
                    api: ApiKey::ApiVersions,
                    topic: None,
                    partition: None,
                    message: None,
                });
            }
        }
    }
}

/// Decodes an ApiVersions response to a request sent at `version`.
///
/// A broker that rejects the version answers with a version 0 body, so when
/// the error code (the first field in every version) says
/// `UNSUPPORTED_VERSION` version 0 is tried first; otherwise `version` is,
/// with version 0 as the fallback, as in the Java client.
fn decode(conn: &Connection, frame: Bytes, version: i16) -> Result<ApiVersionsResponse> {
    // The response header of ApiVersions is always version 0: just the
    // 4-byte correlation id, then the body starting with the error code.
    let code = frame
        .get(4..6)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(i16::from_be_bytes);
    let (first, second) = if code == Some(ErrorCode::UnsupportedVersion.code()) {
        (0, version)
    } else {
        (version, 0)
    };
    let source = match decode_response::<ApiVersionsRequest>(frame.clone(), first) {
        Ok((_, resp)) => return Ok(resp),
        Err(e) if first == second => e,
        Err(e) => match decode_response::<ApiVersionsRequest>(frame, second) {
            Ok((_, resp)) => return Ok(resp),
            // The first attempt was the likelier reading, so its error is
            // the more useful one.
            Err(_) => e,
        },
    };
    let err = Error::Protocol {
        broker: conn.shared.broker.clone(),
        api: Some(ApiVersionsRequest::API_KEY),
        source,
    };
    conn.shared.fail(err.clone());
    Err(err)
}
