//! `RequestBody` and `ResponseBody`: dispatch by API key at run time.

use bytes::{Bytes, BytesMut};
use gregor_protocol::messages::api_versions_response::ApiVersion;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, HeartbeatResponse, MetadataRequest, RequestBody,
    ResponseBody,
};
use gregor_protocol::request::{decode_request_header, encode_request};
use gregor_protocol::{ApiKey, Error, Message};

#[test]
fn request_bodies_round_trip_through_the_enum() {
    let metadata = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some("orders".into())),
        ]))
        .with_allow_auto_topic_creation(true);
    let api_versions = ApiVersionsRequest::default()
        .with_client_software_name("gregor")
        .with_client_software_version("0.1.0");
    for (body, version) in [
        (RequestBody::from(metadata.clone()), 12),
        (RequestBody::from(metadata), 4),
        (RequestBody::from(api_versions), 3),
    ] {
        let bytes = body.encode(version).unwrap();
        let back = RequestBody::decode(body.api_key(), version, bytes.clone()).unwrap();
        assert_eq!(back, body);
        assert_eq!(back.encode(version).unwrap(), bytes);
    }
}

#[test]
fn response_bodies_round_trip_through_the_enum() {
    let api_versions = ApiVersionsResponse::default()
        .with_throttle_time_ms(5)
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(3)
                .with_min_version(0)
                .with_max_version(12),
        ]);
    let body = ResponseBody::from(api_versions.clone());
    assert_eq!(body.api_key(), ApiKey::ApiVersions);
    assert_eq!(body.name(), "ApiVersionsResponse");
    for version in [0, 3] {
        let bytes = body.encode(version).unwrap();
        // The enum encodes exactly as the message does.
        assert_eq!(bytes, api_versions.encode_to_bytes(version).unwrap());
        let back = ResponseBody::decode(ApiKey::ApiVersions, version, bytes).unwrap();
        let ResponseBody::ApiVersions(inner) = &back else {
            panic!("wrong variant: {back:?}");
        };
        assert_eq!(inner.api_keys.len(), 1);
        assert_eq!(back.api_key(), ApiKey::ApiVersions);
    }

    let heartbeat = ResponseBody::Heartbeat(HeartbeatResponse::default().with_error_code(27));
    let bytes = heartbeat.encode(4).unwrap();
    assert_eq!(
        ResponseBody::decode(ApiKey::Heartbeat, 4, bytes).unwrap(),
        heartbeat
    );
}

#[test]
fn a_server_decodes_a_request_it_knows_only_by_its_header() {
    let req = MetadataRequest::default().with_allow_auto_topic_creation(false);
    let mut buf = BytesMut::new();
    encode_request(&mut buf, 9, Some("cli"), 12, &req).unwrap();
    let frame = buf.freeze().slice(4..);
    let (header, body) = decode_request_header(&frame).unwrap();
    let api = ApiKey::from_code(header.request_api_key).unwrap();
    let body = RequestBody::decode(api, header.request_api_version, body).unwrap();
    assert_eq!(body, RequestBody::Metadata(req));
}

#[test]
fn decode_refuses_trailing_bytes_and_unknown_versions() {
    let mut bytes = RequestBody::from(MetadataRequest::default())
        .encode(12)
        .unwrap()
        .to_vec();
    bytes.push(0);
    let err = RequestBody::decode(ApiKey::Metadata, 12, Bytes::from(bytes)).unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");

    let max = ApiKey::Metadata.versions().max;
    let err = RequestBody::decode(ApiKey::Metadata, max + 1, Bytes::new()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err:?}");
    let err = RequestBody::from(MetadataRequest::default())
        .encode(max + 1)
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err:?}");
}

#[test]
fn every_api_key_has_both_bodies() {
    for &api in ApiKey::ALL {
        let v = api.versions().min;
        // Decoding the empty body fails for most APIs, but it must pick the
        // right message: the error (or value) names the API's own types.
        match RequestBody::decode(api, v, Bytes::new()) {
            Ok(body) => assert_eq!(body.api_key(), api),
            Err(e) => assert!(e.to_string().contains(api.name()), "{api}: {e}"),
        }
        match ResponseBody::decode(api, v, Bytes::new()) {
            Ok(body) => assert_eq!(body.api_key(), api),
            Err(e) => assert!(e.to_string().contains(api.name()), "{api}: {e}"),
        }
    }
}
