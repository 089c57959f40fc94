//! A fake Kafka cluster for the cluster-layer tests: a few brokers on real
//! `TcpListener`s sharing one scripted state (brokers, controller, topics
//! with leaders and epochs, coordinators), answering ApiVersions, Metadata,
//! FindCoordinator, ListOffsets (as a leader-routed request), Heartbeat (as
//! a coordinator-routed one) and CreateTopics (controller-routed) with the
//! real codec. Tests change the state to move leaders, coordinators and the
//! controller, kill brokers and count requests.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gregor_protocol::messages::create_topics_response::CreatableTopicResult;
use gregor_protocol::messages::find_coordinator_response::Coordinator;
use gregor_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use gregor_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use gregor_protocol::messages::{
    ApiVersionsRequest, CreateTopicsRequest, CreateTopicsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestHeader,
};
use gregor_protocol::{ApiKey, ErrorCode, Request, Uuid};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use crate::support::{Entry, FakeBroker, full_table};

/// One topic: each partition's (leader, leader epoch).
#[derive(Debug, Clone)]
pub(crate) struct FakeTopic {
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<(i32, i32)>,
}

/// What the fake cluster says, and what it saw.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Advertised brokers (dead ones too, until a test removes them).
    pub(crate) brokers: BTreeMap<i32, SocketAddr>,
    pub(crate) controller: i32,
    pub(crate) topics: BTreeMap<String, FakeTopic>,
    /// Group or transactional id -> coordinator node.
    pub(crate) coordinators: HashMap<String, i32>,
    /// Codes FindCoordinator answers with, one per request, before it
    /// answers normally.
    pub(crate) find_errors: VecDeque<i16>,
    /// How long each Metadata answer takes, to make coalescing observable.
    pub(crate) metadata_delay: Duration,
    /// Every request: (node, API, version).
    pub(crate) seen: Vec<(i32, ApiKey, i16)>,
    /// The keys of each FindCoordinator request (batched or single).
    pub(crate) find_keys: Vec<Vec<String>>,
}

impl State {
    pub(crate) fn add_topic(&mut self, name: &str, id: u8, partitions: Vec<(i32, i32)>) {
        self.topics.insert(
            name.to_owned(),
            FakeTopic {
                id: Uuid([id; 16]),
                partitions,
            },
        );
    }

    pub(crate) fn set_leader(&mut self, topic: &str, partition: usize, leader: i32, epoch: i32) {
        self.topics.get_mut(topic).expect("topic").partitions[partition] = (leader, epoch);
    }
}

struct Node {
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

/// The fake cluster; brokers are numbered from 1.
pub(crate) struct FakeCluster {
    state: Arc<Mutex<State>>,
    table: Arc<Vec<Entry>>,
    nodes: Mutex<BTreeMap<i32, Node>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeCluster {
    /// `n` brokers with every API at every version; broker 1 is the
    /// controller.
    pub(crate) async fn start(n: i32) -> FakeCluster {
        Self::start_with(n, full_table()).await
    }

    /// `n` brokers advertising the versions in `table`.
    pub(crate) async fn start_with(n: i32, table: Vec<Entry>) -> FakeCluster {
        let cluster = FakeCluster {
            state: Arc::new(Mutex::new(State {
                controller: 1,
                ..State::default()
            })),
            table: Arc::new(table),
            nodes: Mutex::new(BTreeMap::new()),
        };
        for id in 1..=n {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            lock(&cluster.state).brokers.insert(id, addr);
            cluster.serve(id, listener);
        }
        cluster
    }

    fn serve(&self, id: i32, listener: TcpListener) {
        let addr = listener.local_addr().expect("addr");
        let conns = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn(accept_loop(
            id,
            listener,
            self.state.clone(),
            self.table.clone(),
            conns.clone(),
        ));
        lock(&self.nodes).insert(
            id,
            Node {
                addr,
                accept: Some(accept),
                conns,
            },
        );
    }

    /// The scripted state, to read or change.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn addr(&self, id: i32) -> String {
        lock(&self.nodes)[&id].addr.to_string()
    }

    /// Every broker's address, in id order.
    pub(crate) fn bootstrap(&self) -> Vec<String> {
        lock(&self.nodes)
            .values()
            .map(|n| n.addr.to_string())
            .collect()
    }

    /// Requests of `api` received by any broker.
    pub(crate) fn count(&self, api: ApiKey) -> usize {
        self.state().seen.iter().filter(|s| s.1 == api).count()
    }

    /// Requests of `api` received by broker `id`.
    pub(crate) fn count_on(&self, id: i32, api: ApiKey) -> usize {
        self.state()
            .seen
            .iter()
            .filter(|s| s.0 == id && s.1 == api)
            .count()
    }

    /// Closes every connection to broker `id` (it keeps listening).
    pub(crate) fn drop_connections(&self, id: i32) {
        let nodes = lock(&self.nodes);
        for c in lock(&nodes[&id].conns).drain(..) {
            c.abort();
        }
    }

    /// Kills broker `id`: closes its connections and stops listening, so
    /// connecting to it is refused. It stays in the metadata.
    pub(crate) async fn kill(&self, id: i32) {
        self.drop_connections(id);
        let accept = lock(&self.nodes).get_mut(&id).and_then(|n| n.accept.take());
        if let Some(task) = accept {
            task.abort();
            // Wait until the listener is really closed, or the kernel would
            // still complete handshakes into its backlog.
            let _ = task.await;
        }
    }

    /// Starts a killed broker again on the same port.
    pub(crate) async fn revive(&self, id: i32) {
        let addr = lock(&self.nodes)[&id].addr;
        let listener = TcpListener::bind(addr).await.expect("rebind the same port");
        self.serve(id, listener);
    }
}

/// An address nothing listens on: bound, then closed.
pub(crate) async fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").to_string()
}

async fn accept_loop(
    id: i32,
    listener: TcpListener,
    state: Arc<Mutex<State>>,
    table: Arc<Vec<Entry>>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let task = tokio::spawn(serve_conn(id, stream, state.clone(), table.clone()));
        lock(&conns).push(task.abort_handle());
    }
}

async fn serve_conn(id: i32, stream: TcpStream, state: Arc<Mutex<State>>, table: Arc<Vec<Entry>>) {
    let mut b = FakeBroker::new(stream);
    // The client may hang up before or during the handshake (a cancelled
    // dial); `handshake` panics on EOF, so do it by hand.
    loop {
        let Some((header, body)) = b.read_request().await else {
            return;
        };
        let Some(api) = ApiKey::from_code(header.request_api_key) else {
            return;
        };
        let version = header.request_api_version;
        lock(&state).seen.push((id, api, version));
        match api {
            ApiKey::ApiVersions => {
                let resp = gregor_protocol::messages::ApiVersionsResponse::default().with_api_keys(
                    table
                        .iter()
                        .map(|&(api, min, max)| {
                            gregor_protocol::messages::api_versions_response::ApiVersion::default()
                                .with_api_key(api.code())
                                .with_min_version(min)
                                .with_max_version(max)
                        })
                        .collect(),
                );
                b.respond::<ApiVersionsRequest>(&header, &resp).await;
            }
            ApiKey::Metadata => {
                let req: MetadataRequest = decode(body, &header);
                let delay = lock(&state).metadata_delay;
                tokio::time::sleep(delay).await;
                let resp = metadata(&lock(&state), &req);
                b.respond::<MetadataRequest>(&header, &resp).await;
            }
            ApiKey::FindCoordinator => {
                let req: FindCoordinatorRequest = decode(body, &header);
                let resp = find_coordinator(&mut lock(&state), &req, version);
                b.respond::<FindCoordinatorRequest>(&header, &resp).await;
            }
            ApiKey::ListOffsets => {
                let req: ListOffsetsRequest = decode(body, &header);
                let resp = list_offsets(&lock(&state), id, &req);
                b.respond::<ListOffsetsRequest>(&header, &resp).await;
            }
            ApiKey::Heartbeat => {
                let req: HeartbeatRequest = decode(body, &header);
                let here = lock(&state).coordinators.get(req.group_id.as_str()) == Some(&id);
                let code = if here {
                    0
                } else {
                    ErrorCode::NotCoordinator.code()
                };
                let resp = HeartbeatResponse::default().with_error_code(code);
                b.respond::<HeartbeatRequest>(&header, &resp).await;
            }
            ApiKey::CreateTopics => {
                let req: CreateTopicsRequest = decode(body, &header);
                let resp = create_topics(&mut lock(&state), id, &req);
                b.respond::<CreateTopicsRequest>(&header, &resp).await;
            }
            other => panic!("the fake cluster does not answer {other:?}"),
        }
    }
}

fn decode<R: Request>(body: bytes::Bytes, header: &RequestHeader) -> R {
    R::decode_from_bytes(body, header.request_api_version).expect("request body")
}

fn metadata(s: &State, req: &MetadataRequest) -> MetadataResponse {
    let brokers = s
        .brokers
        .iter()
        .map(|(&id, addr)| {
            MetadataResponseBroker::default()
                .with_node_id(id)
                .with_host(addr.ip().to_string())
                .with_port(i32::from(addr.port()))
        })
        .collect();
    let replicas: Vec<i32> = s.brokers.keys().copied().collect();
    let topic = |name: &str| match s.topics.get(name) {
        Some(t) => MetadataResponseTopic::default()
            .with_name(Some(name.into()))
            .with_topic_id(t.id)
            .with_partitions(
                t.partitions
                    .iter()
                    .enumerate()
                    .map(|(i, &(leader, epoch))| {
                        MetadataResponsePartition::default()
                            .with_partition_index(i as i32)
                            .with_leader_id(leader)
                            .with_leader_epoch(epoch)
                            .with_replica_nodes(replicas.clone())
                            .with_isr_nodes(vec![leader])
                    })
                    .collect(),
            ),
        None => MetadataResponseTopic::default()
            .with_name(Some(name.into()))
            .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
    };
    let topics = match &req.topics {
        None => s.topics.keys().map(|n| topic(n)).collect(),
        Some(list) => list
            .iter()
            .filter_map(|t| t.name.as_deref())
            .map(topic)
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_controller_id(s.controller)
        .with_cluster_id(Some("fake-cluster".into()))
        .with_topics(topics)
}

fn find_coordinator(
    s: &mut State,
    req: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if version >= 4 {
        req.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![req.key.to_string()]
    };
    s.find_keys.push(keys.clone());
    let forced = s.find_errors.pop_front();
    let answer = |key: &str| -> (i16, i32, String, i32) {
        if let Some(code) = forced {
            return (code, -1, String::new(), -1);
        }
        match s
            .coordinators
            .get(key)
            .and_then(|id| s.brokers.get(id).map(|a| (*id, a)))
        {
            Some((id, addr)) => (0, id, addr.ip().to_string(), i32::from(addr.port())),
            None => (
                ErrorCode::CoordinatorNotAvailable.code(),
                -1,
                String::new(),
                -1,
            ),
        }
    };
    if version >= 4 {
        FindCoordinatorResponse::default().with_coordinators(
            keys.iter()
                .map(|k| {
                    let (code, id, host, port) = answer(k);
                    Coordinator::default()
                        .with_key(k.as_str())
                        .with_error_code(code)
                        .with_node_id(id)
                        .with_host(host)
                        .with_port(port)
                })
                .collect(),
        )
    } else {
        let (code, id, host, port) = answer(&keys[0]);
        FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(id)
            .with_host(host)
            .with_port(port)
    }
}

fn list_offsets(s: &State, id: i32, req: &ListOffsetsRequest) -> ListOffsetsResponse {
    ListOffsetsResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let leader = s
                            .topics
                            .get(t.name.as_str())
                            .and_then(|topic| topic.partitions.get(p.partition_index as usize))
                            .map(|&(leader, _)| leader);
                        let code = match leader {
                            Some(l) if l == id => 0,
                            Some(_) => ErrorCode::NotLeaderOrFollower.code(),
                            None => ErrorCode::UnknownTopicOrPartition.code(),
                        };
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(parts)
            })
            .collect(),
    )
}

fn create_topics(s: &mut State, id: i32, req: &CreateTopicsRequest) -> CreateTopicsResponse {
    let results = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.to_string();
            let code = if id != s.controller {
                ErrorCode::NotController.code()
            } else if s.topics.contains_key(&name) {
                ErrorCode::TopicAlreadyExists.code()
            } else {
                let ids: Vec<i32> = s.brokers.keys().copied().collect();
                let parts = (0..t.num_partitions.max(1) as usize)
                    .map(|i| (ids[i % ids.len()], 0))
                    .collect();
                let n = s.topics.len() as u8 + 100;
                s.add_topic(&name, n, parts);
                0
            };
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(code)
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

/// A ListOffsets request for one partition, to route to its leader.
pub(crate) fn list_offsets_request(topic: &str, partition: i32) -> ListOffsetsRequest {
    use gregor_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    ListOffsetsRequest::default()
        .with_replica_id(-1)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic)
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(-1),
                ]),
        ])
}

/// The one partition code of a [`list_offsets_request`]'s answer.
pub(crate) fn list_offsets_code(resp: &ListOffsetsResponse) -> i16 {
    resp.topics[0].partitions[0].error_code
}
