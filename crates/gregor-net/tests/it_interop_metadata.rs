//! Interop: a topic Gregor creates is seen, with the same partitions and
//! broker, by librdkafka (confluent-kafka) and kafka-python.

use gregor_net::{Connection, ConnectionConfig};
use gregor_protocol::{
    ErrorCode,
    messages::{
        CreateTopicsRequest, MetadataRequest, create_topics_request::CreatableTopic,
        metadata_request::MetadataRequestTopic,
    },
};

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

#[tokio::test]
async fn peers_see_the_topic_gregor_created() {
    let Some(bootstrap) = gregor_testkit::bootstrap("peers_see_the_topic_gregor_created") else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python("peers_see_the_topic_gregor_created") else {
        return;
    };
    let conn = Connection::connect(bootstrap.as_str(), &ConnectionConfig::default())
        .await
        .unwrap();
    let topic = unique("interop-md");
    let created = conn
        .send(
            &CreateTopicsRequest::default()
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(topic.as_str())
                        .with_num_partitions(3)
                        .with_replication_factor(1),
                ])
                .with_timeout_ms(10_000),
        )
        .await
        .unwrap();
    assert_eq!(created.topics.len(), 1);
    assert_eq!(
        ErrorCode::from_code(created.topics[0].error_code),
        ErrorCode::None,
        "{:?}",
        created.topics[0]
    );

    let md = conn
        .send(&MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic.as_str().into())),
        ])))
        .await
        .unwrap();
    let ours = &md.topics[0];
    assert_eq!(ours.name.as_deref(), Some(topic.as_str()));
    assert_eq!(ours.partitions.len(), 3);
    let mut brokers: Vec<(i32, String, i32)> = md
        .brokers
        .iter()
        .map(|b| (b.node_id, b.host.to_string(), b.port))
        .collect();
    brokers.sort();

    for (client, seen) in [
        (
            "librdkafka",
            gregor_testkit::peers::librdkafka_metadata(&python, &bootstrap),
        ),
        (
            "kafka-python",
            gregor_testkit::peers::kafka_python_metadata(&python, &bootstrap),
        ),
    ] {
        let seen = seen.unwrap_or_else(|e| panic!("{client}: {e}"));
        assert_eq!(
            seen["topics"][topic.as_str()].as_u64(),
            Some(3),
            "{client} does not see {topic} with 3 partitions: {seen}"
        );
        let peer_brokers: Vec<(i32, String, i32)> = seen["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["id"].as_i64().unwrap() as i32,
                    b["host"].as_str().unwrap().to_string(),
                    b["port"].as_i64().unwrap() as i32,
                )
            })
            .collect();
        assert_eq!(
            peer_brokers, brokers,
            "{client} sees other brokers than Gregor"
        );
    }
}
