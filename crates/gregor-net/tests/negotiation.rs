//! ApiVersions negotiation against a scripted fake broker.

mod support;

use std::time::Duration;

use gregor_net::{Connection, Error};
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, ProduceRequest,
};
use gregor_protocol::{ApiKey, Message, VersionRange};
use support::{FakeBroker, PATIENCE, connect_duplex, full_table, table_with, test_config};
use tokio::time::timeout;

#[tokio::test]
async fn picks_the_highest_common_version() {
    let mut table = table_with(ApiKey::Metadata, Some((0, 9)));
    table.retain(|e| e.0 != ApiKey::Produce);
    table.push((ApiKey::Produce, 3, 200));
    let config = test_config();
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut broker = FakeBroker::new(server);
    let (conn, seen) = tokio::join!(
        Connection::from_stream(client, "fake:9092", &config),
        broker.handshake(&table)
    );
    let conn = conn.unwrap();

    // One ApiVersions round at the newest version, naming the software.
    assert_eq!(seen.len(), 1);
    let (header, req) = &seen[0];
    assert_eq!(header.request_api_version, ApiVersionsRequest::VERSIONS.max);
    assert_eq!(header.client_id.as_deref(), Some("gregor-test"));
    assert_eq!(&*req.client_software_name, "gregor");
    assert_eq!(&*req.client_software_version, env!("CARGO_PKG_VERSION"));

    assert_eq!(conn.version_for(ApiKey::Metadata), Some(9));
    assert_eq!(
        conn.version_for(ApiKey::Produce),
        Some(ProduceRequest::VERSIONS.max)
    );
    assert_eq!(
        conn.api_versions().get(ApiKey::Produce),
        Some(VersionRange { min: 3, max: 200 })
    );
    assert_eq!(conn.api_versions().len(), table.len());

    let server = async {
        let (header, _) = broker.read::<MetadataRequest>().await;
        assert_eq!(header.request_api_version, 9);
        broker
            .respond::<MetadataRequest>(&header, &support::tagged_response("ok"))
            .await;
    };
    let req = support::tagged_request("x");
    let (resp, ()) = tokio::join!(conn.send(&req), server);
    assert_eq!(support::response_tag(&resp.unwrap()), "ok");
}

#[tokio::test]
async fn falls_back_when_the_broker_rejects_the_api_versions_version() {
    let table = table_with(ApiKey::ApiVersions, Some((0, 2)));
    let config = test_config();
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut broker = FakeBroker::new(server);
    let (conn, seen) = tokio::join!(
        Connection::from_stream(client, "fake:9092", &config),
        broker.handshake(&table)
    );
    let conn = conn.unwrap();
    let versions: Vec<i16> = seen.iter().map(|(h, _)| h.request_api_version).collect();
    assert_eq!(versions, [ApiVersionsRequest::VERSIONS.max, 2]);
    assert_eq!(conn.version_for(ApiKey::ApiVersions), Some(2));
    assert_eq!(
        conn.version_for(ApiKey::Metadata),
        Some(MetadataRequest::VERSIONS.max)
    );
}

#[tokio::test]
async fn falls_back_to_v0_when_the_broker_lists_nothing() {
    let config = test_config();
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut broker = FakeBroker::new(server);
    let server = async {
        // A pre-2.4 broker: UNSUPPORTED_VERSION with an empty list.
        let (header, _) = broker.read::<ApiVersionsRequest>().await;
        let reject = ApiVersionsResponse::default().with_error_code(35);
        let mut buf = bytes::BytesMut::new();
        gregor_protocol::request::encode_response::<ApiVersionsRequest>(
            &mut buf,
            header.correlation_id,
            0,
            &reject,
        )
        .unwrap();
        broker.write_raw(&buf).await;
        broker
            .handshake(&table_with(ApiKey::ApiVersions, Some((0, 0))))
            .await
    };
    let (conn, seen) = tokio::join!(
        Connection::from_stream(client, "fake:9092", &config),
        server
    );
    conn.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.request_api_version, 0);
}

#[tokio::test]
async fn an_api_the_broker_lacks_fails_without_sending() {
    let mut table = table_with(ApiKey::Produce, None);
    table.retain(|e| e.0 != ApiKey::Metadata);
    table.push((ApiKey::Metadata, 100, 120));
    let (conn, mut broker) = connect_duplex(&table, &test_config()).await;

    let err = conn.send(&ProduceRequest::default()).await.unwrap_err();
    match &err {
        Error::UnsupportedVersion {
            api: ApiKey::Produce,
            broker_versions: None,
            client_versions,
            requested: None,
            ..
        } => assert_eq!(*client_versions, ProduceRequest::VERSIONS),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("Produce") && text.contains("does not list"),
        "{text}"
    );
    assert!(!err.is_retriable());

    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("0-{}", MetadataRequest::VERSIONS.max)) && text.contains("100-120"),
        "names both ranges: {text}"
    );

    // An explicit version outside the broker's range is refused too.
    let err = conn
        .send_at(&MetadataRequest::default(), 12)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                requested: Some(12),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Metadata v12"), "{err}");

    // Nothing reached the broker: the next request it reads is this one.
    let server = async {
        let (header, _) = broker.read::<ApiVersionsRequest>().await;
        assert_eq!(header.request_api_version, 1);
        broker
            .respond::<ApiVersionsRequest>(&header, &ApiVersionsResponse::default())
            .await;
    };
    let req = ApiVersionsRequest::default();
    let (resp, ()) = tokio::join!(conn.send_at(&req, 1), server);
    resp.unwrap();
    assert!(!conn.is_dead());
}

#[tokio::test]
async fn an_api_versions_error_code_fails_the_connect() {
    let config = test_config();
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut broker = FakeBroker::new(server);
    let server = async {
        let (header, _) = broker.read::<ApiVersionsRequest>().await;
        let resp = ApiVersionsResponse::default().with_error_code(31);
        broker.respond::<ApiVersionsRequest>(&header, &resp).await;
        broker.expect_eof().await;
    };
    let (conn, ()) = tokio::join!(
        Connection::from_stream(client, "fake:9092", &config),
        server
    );
    let err = conn.unwrap_err();
    assert!(
        matches!(&err, Error::Broker { api: ApiKey::ApiVersions, code, .. } if code.code() == 31),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_broker_times_the_connect_out() {
    let config = test_config()
        .to_builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut broker = FakeBroker::new(server);
    let server = async {
        broker.read::<ApiVersionsRequest>().await;
        // The client gives up and closes the stream.
        broker.expect_eof().await;
    };
    let (conn, ()) = timeout(PATIENCE, async {
        tokio::join!(
            Connection::from_stream(client, "fake:9092", &config),
            server
        )
    })
    .await
    .unwrap();
    let err = conn.unwrap_err();
    assert!(matches!(err, Error::ConnectTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out after 200ms"), "{err}");
    assert!(err.is_retriable());
}

#[tokio::test]
async fn every_api_of_a_current_broker_negotiates() {
    let (conn, _broker) = connect_duplex(&full_table(), &test_config()).await;
    for &api in ApiKey::ALL {
        let expected = gregor_net::client_versions(api).max;
        assert_eq!(conn.version_for(api), Some(expected), "{api}");
    }
}
