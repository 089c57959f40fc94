//! The Kafka side of SASL: `SaslHandshake` then `SaslAuthenticate` rounds
//! (KIP-152), and what their error codes mean. [`Exchange`] holds no I/O so
//! the first authentication (over the connection's pipeline) and
//! re-authentication (inside the stream) share it.

use std::time::Duration;

use bytes::Bytes;
use gregor_protocol::error_code::ErrorCode;
use gregor_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use gregor_protocol::{ApiKey, StrBytes};

use super::SaslConfig;
use super::mechanism::{Session, Step};
use crate::error::{Error, Result};
use crate::{BrokerAddr, Connection, SaslMechanism};

/// The `SaslHandshake` version used: v1 says the exchange that follows is
/// framed in `SaslAuthenticate` requests. v0 (raw SASL tokens, before
/// Kafka 1.0) is not supported.
pub(crate) const HANDSHAKE_VERSION: i16 = 1;

/// More rounds than any mechanism here needs (SCRAM takes two, OAUTHBEARER
/// two when it fails): a broker that keeps asking is broken.
const MAX_ROUNDS: u32 = 8;

/// What follows a `SaslAuthenticate` response.
pub(crate) enum Outcome {
    /// Send this next.
    Continue(SaslAuthenticateRequest),
    /// Authenticated. The broker's session lifetime, if it set one (KIP-368).
    Done { session_lifetime: Option<Duration> },
}

/// One authentication's protocol state.
pub(crate) struct Exchange {
    broker: BrokerAddr,
    mechanism: SaslMechanism,
    session: Session,
    rounds: u32,
    client_done: bool,
}

impl Exchange {
    pub(crate) fn new(broker: BrokerAddr, mechanism: SaslMechanism, session: Session) -> Self {
        Self {
            broker,
            mechanism,
            session,
            rounds: 0,
            client_done: false,
        }
    }

    /// The request that opens the exchange.
    pub(crate) fn handshake_request(&self) -> SaslHandshakeRequest {
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from(self.mechanism.name()))
    }

    /// Checks the handshake's answer and returns the first
    /// `SaslAuthenticate`.
    pub(crate) fn on_handshake(
        &mut self,
        resp: &SaslHandshakeResponse,
    ) -> Result<SaslAuthenticateRequest> {
        match ErrorCode::from_code(resp.error_code) {
            ErrorCode::None => Ok(authenticate_request(self.session.first())),
            ErrorCode::UnsupportedSaslMechanism => Err(Error::UnsupportedSaslMechanism {
                broker: self.broker.clone(),
                mechanism: self.mechanism,
                enabled: resp
                    .mechanisms
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect(),
            }),
            ErrorCode::IllegalSaslState => Err(self.failed(
                "the broker says the SASL handshake came at the wrong moment (ILLEGAL_SASL_STATE)"
                    .to_owned(),
            )),
            code => Err(Error::Broker {
                broker: self.broker.clone(),
                code,
                api: ApiKey::SaslHandshake,
                topic: None,
                partition: None,
                message: None,
            }),
        }
    }

    /// Handles a `SaslAuthenticate` response.
    pub(crate) fn on_authenticate(&mut self, resp: &SaslAuthenticateResponse) -> Result<Outcome> {
        let code = ErrorCode::from_code(resp.error_code);
        if code != ErrorCode::None {
            let mut message = match resp.error_message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => m.to_owned(),
                None => format!("the broker refused the credentials ({code})"),
            };
            if code != ErrorCode::SaslAuthenticationFailed {
                message = format!("{message} [{code}]");
            }
            if let Some(detail) = self.session.error_detail() {
                message = format!("{message}; the broker reported {detail}");
            }
            return Err(self.failed(message));
        }
        self.rounds += 1;
        if self.client_done {
            // The broker answered a message the client sent after the
            // mechanism was done; nothing more to check.
            return Ok(self.done(resp));
        }
        match self
            .session
            .on_server(&resp.auth_bytes)
            .map_err(|m| self.failed(m))?
        {
            Step::Done => {
                self.client_done = true;
                Ok(self.done(resp))
            }
            Step::Send(_) if self.rounds >= MAX_ROUNDS => Err(self.failed(format!(
                "the broker wants more than {MAX_ROUNDS} SASL rounds"
            ))),
            Step::Send(bytes) => Ok(Outcome::Continue(authenticate_request(bytes))),
        }
    }

    fn done(&self, resp: &SaslAuthenticateResponse) -> Outcome {
        let session_lifetime = u64::try_from(resp.session_lifetime_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
        Outcome::Done { session_lifetime }
    }

    /// An [`Error::Authentication`] for this exchange.
    pub(crate) fn failed(&self, message: String) -> Error {
        failed(&self.broker, self.mechanism, message)
    }
}

fn authenticate_request(bytes: Vec<u8>) -> SaslAuthenticateRequest {
    SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes))
}

/// An [`Error::Authentication`].
pub(crate) fn failed(broker: &BrokerAddr, mechanism: SaslMechanism, message: String) -> Error {
    Error::Authentication {
        broker: broker.clone(),
        mechanism,
        message,
    }
}

/// Authenticates a freshly negotiated connection through its pipeline
/// (nothing else is on it yet). Returns the broker's session lifetime, if
/// it set one.
///
/// # Errors
///
/// [`Error::Authentication`], [`Error::UnsupportedSaslMechanism`],
/// [`Error::UnsupportedVersion`] for a broker without `SaslHandshake` v1,
/// or whatever sending the requests hit.
pub(crate) async fn authenticate(conn: &Connection, sasl: &SaslConfig) -> Result<Option<Duration>> {
    let broker = conn.broker().clone();
    let mechanism = sasl.mechanism();
    let session = sasl
        .session()
        .await
        .map_err(|m| failed(&broker, mechanism, m))?;
    let mut exchange = Exchange::new(broker.clone(), mechanism, session);
    tracing::debug!(broker = %broker, %mechanism, "SASL authentication");
    let handshake = conn
        .send_at(&exchange.handshake_request(), HANDSHAKE_VERSION)
        .await?;
    let mut next = exchange.on_handshake(&handshake)?;
    loop {
        let resp = conn.send(&next).await?;
        match exchange.on_authenticate(&resp)? {
            Outcome::Continue(req) => next = req,
            Outcome::Done { session_lifetime } => {
                tracing::debug!(
                    broker = %broker,
                    %mechanism,
                    session_lifetime_ms = session_lifetime.map(|d| d.as_millis() as u64),
                    "SASL authenticated"
                );
                return Ok(session_lifetime);
            }
        }
    }
}
