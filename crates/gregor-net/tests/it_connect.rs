//! Against a real broker: connect, negotiate versions, read metadata.

use gregor_net::{Connection, ConnectionConfig};
use gregor_protocol::{ApiKey, messages::MetadataRequest};

#[tokio::test]
async fn api_versions_against_the_broker() {
    let Some(bootstrap) = gregor_testkit::bootstrap("api_versions_against_the_broker") else {
        return;
    };
    let config = ConnectionConfig::builder()
        .client_id("gregor-it")
        .build()
        .unwrap();
    let conn = Connection::connect(bootstrap.as_str(), &config)
        .await
        .unwrap();

    // The broker's ApiVersions answer lists the core APIs every client needs.
    let versions = conn.api_versions();
    for api in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::Metadata,
        ApiKey::ApiVersions,
    ] {
        let range = versions
            .get(api)
            .unwrap_or_else(|| panic!("broker does not list {api:?}"));
        assert!(range.min <= range.max, "{api:?}: {range:?}");
    }
    // Produce v3+ (record batch v2) and a flexible Metadata version are
    // negotiated: anything older would mean the negotiation picked too low.
    assert!(conn.version_for(ApiKey::Produce).unwrap() >= 3);
    assert!(conn.version_for(ApiKey::Metadata).unwrap() >= 9);
}

#[tokio::test]
async fn metadata_lists_the_broker_we_dialled() {
    let Some(bootstrap) = gregor_testkit::bootstrap("metadata_lists_the_broker_we_dialled") else {
        return;
    };
    let config = ConnectionConfig::default();
    let conn = Connection::connect(bootstrap.as_str(), &config)
        .await
        .unwrap();
    let md = conn
        .send(&MetadataRequest::default().with_topics(None))
        .await
        .unwrap();
    let (host, port) = bootstrap.rsplit_once(':').unwrap();
    let port: i32 = port.parse().unwrap();
    assert!(!md.brokers.is_empty(), "no brokers in {md:?}");
    if gregor_testkit::BrokerKind::current() == gregor_testkit::BrokerKind::Nisshi {
        // The local broker advertises exactly the address we dialled.
        assert_eq!(md.brokers.len(), 1, "{md:?}");
        assert_eq!(md.brokers[0].host.as_str(), host);
        assert_eq!(md.brokers[0].port, port);
    }
    assert!(
        md.brokers.iter().any(|b| b.node_id == md.controller_id),
        "controller {} is not among the brokers {:?}",
        md.controller_id,
        md.brokers
    );
}
