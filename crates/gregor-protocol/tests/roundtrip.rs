//! Hand-encoded frames from the Kafka protocol guide, version errors, and
//! framing. (Property round trips over every message and version live in the
//! generated `generated::tests` module.)

use bytes::{Bytes, BytesMut};
use gregor_protocol::messages::api_versions_response::{ApiVersion, SupportedFeatureKey};
use gregor_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ControlledShutdownRequest, FetchRequest,
    MetadataRequest, MetadataResponse, ProduceRequest, RequestHeader, ResponseHeader,
};
use gregor_protocol::request::{
    decode_request_header, decode_response, encode_request, encode_response,
    response_correlation_id,
};
use gregor_protocol::{
    ApiKey, Decode, Encode, Error, Message, RawTaggedField, Reader, Request, StrBytes, Uuid, Writer,
};

/// Concatenates byte pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn frame_of(buf: &BytesMut) -> Bytes {
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    assert_eq!(size as usize, buf.len() - 4, "size prefix");
    Bytes::copy_from_slice(&buf[4..])
}

#[test]
fn api_versions_v3_request_matches_the_protocol_guide() {
    // Request header v2: api key 18, version 3, correlation id 1, client id
    // "cli" (int16 length even in flexible headers), empty tag buffer; then
    // client_software_name and client_software_version as compact strings.
    let expected = cat(&[
        &[0, 18, 0, 3],
        &[0, 0, 0, 1],
        &[0, 3],
        b"cli",
        &[0],
        &[7],
        b"gregor",
        &[4],
        b"0.1",
        &[0],
    ]);
    let req = ApiVersionsRequest::default()
        .with_client_software_name("gregor")
        .with_client_software_version("0.1");
    let mut buf = BytesMut::new();
    encode_request(&mut buf, 1, Some("cli"), 3, &req).unwrap();
    let frame = frame_of(&buf);
    assert_eq!(&frame[..], &expected[..]);

    let (header, body) = decode_request_header(&frame).unwrap();
    assert_eq!(header.request_api_key, 18);
    assert_eq!(header.request_api_version, 3);
    assert_eq!(header.correlation_id, 1);
    assert_eq!(header.client_id.as_deref(), Some("cli"));
    let decoded = ApiVersionsRequest::decode_from_bytes(body, 3).unwrap();
    assert_eq!(decoded, req);
    assert_eq!(decoded.client_software_name, "gregor");
}

#[test]
fn api_versions_v3_response_matches_the_protocol_guide() {
    // Response header v0 (ApiVersions never uses v1): correlation id. Body:
    // error_code, api_keys as a compact array (count + 1) of
    // (api_key, min, max, tag buffer), throttle_time_ms, then the tag buffer
    // with SupportedFeatures (tag 0) and FinalizedFeaturesEpoch (tag 1).
    let supported = cat(&[&[2], &[2], b"x", &[0, 1, 0, 3, 0]]);
    let frame = cat(&[
        &[0, 0, 0, 7],
        &[0, 0],
        &[3],
        &[0, 0, 0, 0, 0, 11, 0],
        &[0, 18, 0, 0, 0, 4, 0],
        &[0, 0, 0, 100],
        &[2],
        &[0, supported.len() as u8],
        &supported,
        &[1, 8, 0, 0, 0, 0, 0, 0, 0, 5],
    ]);
    let (header, resp) =
        decode_response::<ApiVersionsRequest>(Bytes::from(frame.clone()), 3).unwrap();
    assert_eq!(header.correlation_id, 7);
    assert_eq!(resp.error_code, 0);
    assert_eq!(
        resp.api_keys,
        vec![
            ApiVersion::default().with_max_version(11),
            ApiVersion::default().with_api_key(18).with_max_version(4),
        ]
    );
    assert_eq!(resp.throttle_time_ms, 100);
    assert_eq!(
        resp.supported_features,
        vec![
            SupportedFeatureKey::default()
                .with_name("x")
                .with_min_version(1)
                .with_max_version(3)
        ]
    );
    assert_eq!(resp.finalized_features_epoch, 5);
    assert!(resp.finalized_features.is_empty());
    assert!(resp.unknown_tagged_fields.is_empty());

    // And back, byte for byte.
    let mut buf = BytesMut::new();
    encode_response::<ApiVersionsRequest>(&mut buf, 7, 3, &resp).unwrap();
    assert_eq!(&frame_of(&buf)[..], &frame[..]);
}

#[test]
fn metadata_v12_request_matches_the_protocol_guide() {
    // Header v2, then topics as a compact array of (topic_id uuid, name as a
    // compact nullable string, tag buffer), allow_auto_topic_creation,
    // include_topic_authorized_operations, tag buffer.
    let id = Uuid([7; 16]);
    let expected = cat(&[
        &[0, 3, 0, 12],
        &[0, 0, 0, 42],
        &[0xff, 0xff],
        &[0],
        &[3],
        &[7; 16],
        &[4],
        b"foo",
        &[0],
        &[0; 16],
        &[0],
        &[0],
        &[0],
        &[1],
        &[0],
    ]);
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_topic_id(id)
                .with_name(Some("foo".into())),
            MetadataRequestTopic::default().with_name(None),
        ]))
        .with_allow_auto_topic_creation(false)
        .with_include_topic_authorized_operations(true);
    let mut buf = BytesMut::new();
    encode_request(&mut buf, 42, None, 12, &req).unwrap();
    let frame = frame_of(&buf);
    assert_eq!(&frame[..], &expected[..]);

    let (header, body) = decode_request_header(&frame).unwrap();
    assert_eq!(
        ApiKey::from_code(header.request_api_key),
        Some(ApiKey::Metadata)
    );
    assert_eq!(header.client_id, None);
    let decoded = MetadataRequest::decode_from_bytes(body.clone(), 12).unwrap();
    assert_eq!(decoded, req);

    // Decoding shares the input: the topic name points into the frame.
    let name = decoded.topics.as_ref().unwrap()[0].name.clone().unwrap();
    let range = body.as_ptr_range();
    assert!(range.contains(&name.as_bytes().as_ptr()));

    // A null topic array (all topics) is a zero count.
    let all = MetadataRequest::default().with_topics(None);
    let bytes = all.encode_to_bytes(12).unwrap();
    assert_eq!(&bytes[..], &[0, 1, 0, 0]);
}

#[test]
fn request_header_versions_follow_the_api() {
    assert_eq!(ApiKey::ApiVersions.request_header_version(2), 1);
    assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
    assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
    assert_eq!(ApiKey::Metadata.response_header_version(9), 1);
    assert_eq!(ApiKey::Metadata.response_header_version(8), 0);
    assert_eq!(ApiKey::ControlledShutdown.request_header_version(0), 0);
    assert_eq!(ApiKey::ControlledShutdown.request_header_version(1), 1);
    assert_eq!(ApiKey::Produce.code(), 0);
    assert_eq!(ApiKey::from_code(3), Some(ApiKey::Metadata));
    assert_eq!(ApiKey::Metadata.name(), "Metadata");
    assert_eq!(ApiKey::Metadata.versions(), MetadataRequest::VERSIONS);
    assert_eq!(ApiKey::Metadata.flexible_from(), Some(9));
    assert_eq!(ApiKey::SaslHandshake.flexible_from(), None);
    assert!(ApiKey::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
    assert_eq!(<MetadataRequest as Request>::API_KEY, ApiKey::Metadata);
    assert_eq!(
        <MetadataRequest as Request>::Response::NAME,
        MetadataResponse::NAME
    );
}

/// `encode_request` writes the header by hand; it must match the generated
/// `RequestHeader` at every header version.
#[test]
fn hand_written_header_matches_the_generated_one() {
    fn check<R: Request>(req: &R, version: i16, client_id: Option<&str>) {
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 99, client_id, version, req).unwrap();
        let frame = frame_of(&buf);
        let header_version = R::API_KEY.request_header_version(version);
        let header = RequestHeader::default()
            .with_request_api_key(R::API_KEY.code())
            .with_request_api_version(version)
            .with_correlation_id(99)
            .with_client_id(client_id.map(StrBytes::from));
        let mut w = Writer::new();
        header.encode(&mut w, header_version).unwrap();
        let body = req.encode_to_bytes(version).unwrap();
        assert_eq!(&frame[..], &cat(&[w.as_slice(), &body])[..]);
        let (decoded, rest) = decode_request_header(&frame).unwrap();
        assert_eq!(rest, body);
        if header_version >= 1 {
            assert_eq!(decoded, header);
        }
    }
    check(
        &ControlledShutdownRequest::default().with_broker_id(3),
        0,
        None,
    );
    check(&ControlledShutdownRequest::default(), 1, Some("c"));
    check(&ApiVersionsRequest::default(), 0, Some("client"));
    check(&ApiVersionsRequest::default(), 4, None);
    check(&MetadataRequest::default(), 12, Some("é"));
}

#[test]
fn non_default_field_missing_from_the_version_is_refused() {
    // AllowAutoTopicCreation is new in v4 and not ignorable.
    let req = MetadataRequest::default().with_allow_auto_topic_creation(false);
    assert_eq!(
        req.encode_to_bytes(3),
        Err(Error::FieldNotInVersion {
            message: "MetadataRequest",
            version: 3,
            field: "allow_auto_topic_creation",
        })
    );
    assert!(req.encode_to_bytes(4).is_ok());
    // ... and IncludeClusterAuthorizedOperations is gone after v10.
    let req = MetadataRequest::default().with_include_cluster_authorized_operations(true);
    assert!(req.encode_to_bytes(10).is_ok());
    assert!(matches!(
        req.encode_to_bytes(11),
        Err(Error::FieldNotInVersion {
            field: "include_cluster_authorized_operations",
            ..
        })
    ));
    // Nested: a topic id (ignorable) is dropped silently before v10.
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_topic_id(Uuid([1; 16]))
            .with_name(Some("t".into())),
    ]));
    assert!(req.encode_to_bytes(9).is_ok());
    // A transactional produce cannot be sent as v2.
    let req = ProduceRequest::default().with_transactional_id(Some("tx".into()));
    assert!(matches!(
        req.encode_to_bytes(2),
        Err(Error::FieldNotInVersion {
            field: "transactional_id",
            ..
        })
    ));
    // Through the framing helper the frame is not left half-written.
    let mut buf = BytesMut::from(&b"keep"[..]);
    assert!(encode_request(&mut buf, 1, None, 2, &req).is_err());
    assert_eq!(&buf[..], b"keep");
}

#[test]
fn null_where_the_version_forbids_it_is_refused() {
    // Topic names become nullable only in v10.
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(None)]));
    assert!(matches!(
        req.encode_to_bytes(9),
        Err(Error::NullNotAllowed { at }) if at.field == "topics.name" && at.message == "MetadataRequest"
    ));
    assert!(req.encode_to_bytes(10).is_ok());
    // A null topic list needs v1+.
    let req = MetadataRequest::default().with_topics(None);
    assert!(matches!(
        req.encode_to_bytes(0),
        Err(Error::NullNotAllowed { .. })
    ));
    // And on the way in: -1 for the array in v0.
    let err = MetadataRequest::decode_from_bytes(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]), 0)
        .unwrap_err();
    assert!(matches!(err, Error::NullNotAllowed { .. }), "{err}");
}

#[test]
fn unsupported_versions_are_refused() {
    let req = MetadataRequest::default();
    assert_eq!(
        req.encode_to_bytes(13),
        Err(Error::UnsupportedVersion {
            message: "MetadataRequest",
            version: 13,
            min: 0,
            max: 12,
        })
    );
    assert!(matches!(
        MetadataResponse::decode_from_bytes(Bytes::new(), -1),
        Err(Error::UnsupportedVersion { .. })
    ));
    let mut buf = BytesMut::new();
    assert!(matches!(
        encode_request(&mut buf, 1, None, 99, &req),
        Err(Error::UnsupportedVersion { .. })
    ));
    assert!(buf.is_empty());
    assert!(matches!(
        decode_response::<MetadataRequest>(Bytes::from_static(&[0, 0, 0, 1]), 13),
        Err(Error::UnsupportedVersion { .. })
    ));
}

#[test]
fn unknown_tagged_fields_survive_and_merge_in_tag_order() {
    // FetchRequest v12+: ClusterId is tag 0 at the top level; an unknown tag 5
    // sits after it and must come back in order.
    let mut req = FetchRequest::default()
        .with_cluster_id(Some("cluster".into()))
        .with_topics(vec![FetchTopic::default().with_topic("t").with_partitions(
            vec![
            FetchPartition::default().with_partition(1).with_fetch_offset(10),
        ],
        )]);
    req.unknown_tagged_fields = vec![RawTaggedField {
        tag: 5,
        data: Bytes::from_static(b"\x01\x02"),
    }];
    let bytes = req.encode_to_bytes(12).unwrap();
    // The section ends: count 2, tag 0 (compact "cluster"), tag 5.
    let tail = cat(&[&[2, 0, 8, 8], b"cluster", &[5, 2, 1, 2]]);
    assert!(bytes.ends_with(&tail), "{bytes:?}");
    let back = FetchRequest::decode_from_bytes(bytes.clone(), 12).unwrap();
    assert_eq!(back, req);
    assert_eq!(back.cluster_id.as_deref(), Some("cluster"));
    assert_eq!(back.encode_to_bytes(12).unwrap(), bytes);

    // Non-flexible versions cannot carry tagged fields at all.
    let req = FetchRequest::default().with_cluster_id(None);
    let mut with_unknown = req.clone();
    with_unknown.unknown_tagged_fields = vec![RawTaggedField::default()];
    assert!(matches!(
        with_unknown.encode_to_bytes(11),
        Err(Error::FieldNotInVersion {
            field: "unknown_tagged_fields",
            ..
        })
    ));
}

#[test]
fn decode_errors_name_the_message_and_field() {
    // A MetadataResponse v12 cut inside the brokers array.
    let err = MetadataResponse::decode_from_bytes(Bytes::from_static(&[0, 0, 0, 0, 2, 0, 0]), 12)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("MetadataResponse v12, field brokers"),
        "{text}"
    );
    // An array count larger than the input allows is refused up front.
    let err = MetadataResponse::decode_from_bytes(
        Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]),
        12,
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadLength { .. }), "{err}");
}

#[test]
fn responses_round_trip_through_framing() {
    let resp = ApiVersionsResponse::default()
        .with_error_code(35)
        .with_api_keys(vec![
            ApiVersion::default().with_api_key(18).with_max_version(4),
        ]);
    for version in 0..=4 {
        let mut buf = BytesMut::new();
        encode_response::<ApiVersionsRequest>(&mut buf, -5, version, &resp).unwrap();
        let frame = frame_of(&buf);
        assert_eq!(response_correlation_id(&frame).unwrap(), -5);
        let (header, back) = decode_response::<ApiVersionsRequest>(frame.clone(), version).unwrap();
        assert_eq!(header, ResponseHeader::default().with_correlation_id(-5));
        assert_eq!(back, resp);
        // Trailing garbage is an error, not ignored.
        let mut long = frame.to_vec();
        long.push(0);
        assert!(decode_response::<ApiVersionsRequest>(Bytes::from(long), version).is_err());
    }
    // A flexible Metadata response has a tagged-field section in its header.
    let mut buf = BytesMut::new();
    encode_response::<MetadataRequest>(&mut buf, 3, 12, &MetadataResponse::default()).unwrap();
    let frame = frame_of(&buf);
    assert_eq!(&frame[..5], &[0, 0, 0, 3, 0]);
    let mut r = Reader::new(frame.slice(..5));
    assert_eq!(ResponseHeader::decode(&mut r, 1).unwrap().correlation_id, 3);
    assert!(r.is_empty());
}

#[test]
fn unknown_api_keys_are_reported() {
    let frame = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(matches!(
        decode_request_header(&frame),
        Err(Error::InvalidValue { .. })
    ));
    assert!(matches!(
        decode_request_header(&Bytes::from_static(&[0, 3])),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn defaults_follow_the_specs() {
    let req = MetadataRequest::default();
    assert!(req.allow_auto_topic_creation);
    assert_eq!(req.topics, Some(Vec::new()));
    let resp = ApiVersionsResponse::default();
    assert_eq!(resp.finalized_features_epoch, -1);
    let fetch = FetchRequest::default();
    assert_eq!(fetch.cluster_id, None);
    assert_eq!(fetch.replica_id, -1);
    assert_eq!(fetch.max_bytes, 0x7fff_ffff);
    assert_eq!(fetch.isolation_level, 0);
}
