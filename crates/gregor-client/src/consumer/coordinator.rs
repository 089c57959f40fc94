//! How the group driver talks to the cluster: FindCoordinator to any
//! broker, everything else over a connection of its own to the
//! coordinator (as the Java client does), whose request timeout covers a
//! JoinGroup waiting out the whole rebalance without holding up fetches
//! on the shared connections.

use std::time::Duration;

use gregor_group::{
    CoordinatorNode, Destination, Failure, GroupConfig, Outgoing, Request, Response,
};
use gregor_net::{BrokerAddr, Cluster, Connection, Connector};

/// A connector like the cluster's, with a request timeout long enough for
/// JoinGroup (the rebalance timeout and five seconds).
pub(crate) fn coordinator_connector(cluster: &Cluster, group: &GroupConfig) -> Connector {
    let base = cluster.config().connector();
    let timeout = base
        .config()
        .request_timeout()
        .max(group.rebalance_timeout() + Duration::from_secs(5));
    let config = base
        .config()
        .to_builder()
        .request_timeout(timeout)
        .build()
        .unwrap_or_else(|_| base.config().clone());
    let mut connector = Connector::new(config);
    if let Some(tls) = base.tls() {
        connector = connector.with_tls(tls.clone());
    }
    if let Some(sasl) = base.sasl() {
        connector = connector.with_sasl(sasl.clone());
    }
    connector
}

/// The coordinator's dedicated connection, opened on first use and again
/// after it dies or the coordinator moves.
pub(crate) struct CoordinatorLink {
    connector: Connector,
    conn: tokio::sync::Mutex<Option<(i32, Connection)>>,
}

impl CoordinatorLink {
    pub(crate) fn new(connector: Connector) -> Self {
        Self {
            connector,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self, node: &CoordinatorNode) -> gregor_net::Result<Connection> {
        let mut slot = self.conn.lock().await;
        if let Some((id, conn)) = slot.as_ref()
            && *id == node.node_id
            && !conn.is_dead()
        {
            return Ok(conn.clone());
        }
        let host = if node.host.contains(':') && !node.host.starts_with('[') {
            format!("[{}]:{}", node.host, node.port)
        } else {
            format!("{}:{}", node.host, node.port)
        };
        let conn = self
            .connector
            .connect(BrokerAddr::new(host).with_node_id(node.node_id))
            .await?;
        *slot = Some((node.node_id, conn.clone()));
        Ok(conn)
    }
}

/// Sends one request of the member and turns the outcome into a
/// [`Response`].
pub(crate) async fn transmit(cluster: &Cluster, link: &CoordinatorLink, out: Outgoing) -> Response {
    let conn = match &out.destination {
        Destination::AnyBroker => cluster.any_connection().await,
        Destination::Coordinator(node) => link.get(node).await,
    };
    let conn = match conn {
        Ok(c) => c,
        Err(e) => return Response::Failed(failure_of(&e, true)),
    };
    let api = out.request.api_key();
    let Some(v) = conn.version_for(api) else {
        return Response::Failed(Failure::NotSent {
            reason: format!("broker {} does not support {api}", conn.broker()),
        });
    };
    let request = match out.request.for_version(v) {
        Ok(r) => r,
        Err(e) => {
            return Response::Failed(Failure::NotSent {
                reason: e.to_string(),
            });
        }
    };
    let result = match request {
        Request::FindCoordinator(r) => conn.send_at(&r, v).await.map(Response::FindCoordinator),
        Request::JoinGroup(r) => conn.send_at(&r, v).await.map(Response::JoinGroup),
        Request::SyncGroup(r) => conn.send_at(&r, v).await.map(Response::SyncGroup),
        Request::Heartbeat(r) => conn.send_at(&r, v).await.map(Response::Heartbeat),
        Request::LeaveGroup(r) => conn.send_at(&r, v).await.map(Response::LeaveGroup),
        Request::OffsetFetch(r) => conn.send_at(&r, v).await.map(Response::OffsetFetch),
        Request::OffsetCommit(r) => conn.send_at(&r, v).await.map(Response::OffsetCommit),
        other => {
            return Response::Failed(Failure::NotSent {
                reason: format!("{:?} is not sent by this driver", other.api_key()),
            });
        }
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            cluster.on_error(&e);
            Response::Failed(failure_of(&e, conn.is_dead()))
        }
    }
}

/// How a network error looks to the member.
fn failure_of(e: &gregor_net::Error, dead: bool) -> Failure {
    match e {
        gregor_net::Error::Timeout { .. } => Failure::TimedOut,
        gregor_net::Error::UnsupportedVersion { .. } | gregor_net::Error::Protocol { .. }
            if !dead =>
        {
            Failure::NotSent {
                reason: e.to_string(),
            }
        }
        _ => Failure::Disconnected,
    }
}
