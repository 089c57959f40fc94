//! SCRAM credentials: DescribeUserScramCredentials (any broker) and
//! AlterUserScramCredentials (the controller), with the salted password
//! computed here so the password never leaves the client.

use std::fmt;

use gregor_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use gregor_protocol::messages::describe_user_scram_credentials_request::UserName;
use gregor_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use gregor_protocol::{ApiKey, ErrorCode};
use sha2::{Sha256, Sha512};

use super::types::code_enum;
use super::{Admin, Outcomes, all_failed, code_result, net, types, version};
use crate::{Error, Result};

code_enum! {
    /// A SCRAM mechanism.
    pub enum ScramMechanism {
        /// SCRAM-SHA-256.
        Sha256 = 1,
        /// SCRAM-SHA-512.
        Sha512 = 2,
    }
}

impl ScramMechanism {
    /// The mechanism's SASL name, e.g. `SCRAM-SHA-256`.
    pub fn name(self) -> String {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256".to_owned(),
            ScramMechanism::Sha512 => "SCRAM-SHA-512".to_owned(),
            ScramMechanism::Unknown(code) => format!("SCRAM mechanism {code}"),
        }
    }

    /// The salted password (RFC 5802's `Hi`: PBKDF2 with this mechanism's
    /// HMAC), as the broker stores it.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                Ok(out)
            }
            ScramMechanism::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                Ok(out)
            }
            ScramMechanism::Unknown(_) => Err(Error::config(
                "mechanism",
                format!("{} has no known hash", self.name()),
            )),
        }
    }
}

/// One SCRAM credential of a user: its mechanism and iterations (the
/// broker never reveals the rest).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// The PBKDF2 iterations.
    pub iterations: i32,
}

/// A change to a user's SCRAM credentials.
///
/// ```
/// use gregor_client::admin::{ScramAlteration, ScramMechanism};
///
/// let set = ScramAlteration::upsert("alice", ScramMechanism::Sha256, 8192, "s3cret");
/// let drop = ScramAlteration::delete("bob", ScramMechanism::Sha512);
/// assert_eq!(set.user(), "alice");
/// assert!(!format!("{set:?}").contains("s3cret"));
/// # let _ = drop;
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum ScramAlteration {
    /// Sets (or replaces) a credential.
    Upsert {
        /// The user.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
        /// PBKDF2 iterations (Kafka takes 4096 to 16384).
        iterations: i32,
        /// The password; only the salted password is sent.
        password: String,
        /// The salt; random when `None`.
        salt: Option<Vec<u8>>,
    },
    /// Removes a credential.
    Delete {
        /// The user.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
    },
}

impl ScramAlteration {
    /// Sets `user`'s `mechanism` credential to `password` with a random
    /// salt.
    pub fn upsert(
        user: impl Into<String>,
        mechanism: ScramMechanism,
        iterations: i32,
        password: impl Into<String>,
    ) -> Self {
        ScramAlteration::Upsert {
            user: user.into(),
            mechanism,
            iterations,
            password: password.into(),
            salt: None,
        }
    }

    /// Removes `user`'s `mechanism` credential.
    pub fn delete(user: impl Into<String>, mechanism: ScramMechanism) -> Self {
        ScramAlteration::Delete {
            user: user.into(),
            mechanism,
        }
    }

    /// Uses `salt` instead of a random one (an upsert; a deletion is
    /// returned unchanged).
    #[must_use]
    pub fn with_salt(mut self, salt: impl Into<Vec<u8>>) -> Self {
        if let ScramAlteration::Upsert { salt: s, .. } = &mut self {
            *s = Some(salt.into());
        }
        self
    }

    /// The user it changes.
    pub fn user(&self) -> &str {
        match self {
            ScramAlteration::Upsert { user, .. } | ScramAlteration::Delete { user, .. } => user,
        }
    }
}

impl fmt::Debug for ScramAlteration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramAlteration::Upsert {
                user,
                mechanism,
                iterations,
                ..
            } => f
                .debug_struct("Upsert")
                .field("user", user)
                .field("mechanism", mechanism)
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            ScramAlteration::Delete { user, mechanism } => f
                .debug_struct("Delete")
                .field("user", user)
                .field("mechanism", mechanism)
                .finish(),
        }
    }
}

/// Each user's SCRAM credentials.
pub type DescribeScramResult = Outcomes<String, Vec<ScramCredentialInfo>>;
/// Whether each user's alterations were applied.
pub type ScramResult = Outcomes<String, ()>;

impl Admin {
    /// The SCRAM credentials of `users`, or of every user with one when
    /// `users` is empty. A user without credentials fails with
    /// `RESOURCE_NOT_FOUND`.
    ///
    /// ```no_run
    /// # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
    /// for (user, creds) in admin.describe_user_scram_credentials(&["alice"]).await?.into_result()? {
    ///     println!("{user}: {creds:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The request's, or the broker's error for the whole request.
    pub async fn describe_user_scram_credentials<S: AsRef<str>>(
        &self,
        users: &[S],
    ) -> Result<DescribeScramResult> {
        let users = types::dedup(users.iter().map(|u| u.as_ref().to_owned()));
        let wanted = &users;
        let (broker, resp) = self
            .retry(self.deadline(), || async move {
                let conn = self.cluster.any_connection().await?;
                version(&conn, ApiKey::DescribeUserScramCredentials)?;
                let req = DescribeUserScramCredentialsRequest::default().with_users(
                    (!wanted.is_empty()).then(|| {
                        wanted
                            .iter()
                            .map(|u| UserName::default().with_name(u.as_str()))
                            .collect()
                    }),
                );
                let resp = conn.send(&req).await.map_err(net)?;
                code_result(
                    conn.broker(),
                    ApiKey::DescribeUserScramCredentials,
                    resp.error_code,
                    resp.error_message.as_ref(),
                )?;
                Ok((conn.broker().clone(), resp))
            })
            .await?;
        let result_of = |user: &str| {
            let Some(r) = resp.results.iter().find(|r| r.user.as_str() == user) else {
                // Left out: it has no credentials (Kafka says so with
                // RESOURCE_NOT_FOUND; some brokers just omit the user).
                return Err(Error::from(gregor_net::Error::Broker {
                    broker: broker.clone(),
                    code: ErrorCode::ResourceNotFound,
                    api: ApiKey::DescribeUserScramCredentials,
                    topic: None,
                    partition: None,
                    message: Some(format!("user {user} has no SCRAM credentials")),
                }));
            };
            code_result(
                &broker,
                ApiKey::DescribeUserScramCredentials,
                r.error_code,
                r.error_message.as_ref(),
            )?;
            Ok(r.credential_infos
                .iter()
                .map(|c| ScramCredentialInfo {
                    mechanism: ScramMechanism::from_code(c.mechanism),
                    iterations: c.iterations,
                })
                .collect())
        };
        let names: Vec<String> = if users.is_empty() {
            resp.results.iter().map(|r| r.user.to_string()).collect()
        } else {
            users
        };
        Ok(Outcomes::from_items(
            names
                .into_iter()
                .map(|u| {
                    let r = result_of(&u);
                    (u, r)
                })
                .collect(),
        ))
    }

    /// Applies `alterations` at the controller, one result per user.
    /// Passwords are salted and hashed here; a random salt is drawn for
    /// each upsert that has none.
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, ScramAlteration, ScramMechanism};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let alice = ScramAlteration::upsert("alice", ScramMechanism::Sha512, 4096, "s3cret");
    /// admin.alter_user_scram_credentials(&[alice]).await.into_result()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn alter_user_scram_credentials(
        &self,
        alterations: &[ScramAlteration],
    ) -> ScramResult {
        let users = types::dedup(alterations.iter().map(|a| a.user().to_owned()));
        if users.is_empty() {
            return Outcomes::default();
        }
        let mut deletions = Vec::new();
        let mut upsertions = Vec::new();
        for a in alterations {
            match a {
                ScramAlteration::Delete { user, mechanism } => deletions.push(
                    ScramCredentialDeletion::default()
                        .with_name(user.as_str())
                        .with_mechanism(mechanism.code()),
                ),
                ScramAlteration::Upsert {
                    user,
                    mechanism,
                    iterations,
                    password,
                    salt,
                } => match upsertion(user, *mechanism, *iterations, password, salt.as_deref()) {
                    Ok(u) => upsertions.push(u),
                    Err(e) => return all_failed(&users, &e),
                },
            }
        }
        let req = AlterUserScramCredentialsRequest::default()
            .with_deletions(deletions)
            .with_upsertions(upsertions);
        let req = &req;
        let sent = self
            .retry(self.deadline(), || async move {
                let conn = self.cluster.controller_connection().await?;
                version(&conn, ApiKey::AlterUserScramCredentials)?;
                let resp = conn.send(req).await.map_err(net)?;
                Ok((conn.broker().clone(), resp.results))
            })
            .await;
        let (broker, results) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&users, &e),
        };
        Outcomes::from_items(
            users
                .into_iter()
                .map(|user| {
                    let r = match results.iter().find(|r| r.user.as_str() == user) {
                        Some(r) => code_result(
                            &broker,
                            ApiKey::AlterUserScramCredentials,
                            r.error_code,
                            r.error_message.as_ref(),
                        )
                        .map_err(Error::from),
                        None => Err(Error::Incomplete {
                            api: ApiKey::AlterUserScramCredentials,
                            broker: broker.clone(),
                            item: format!("user {user}"),
                        }),
                    };
                    (user, r)
                })
                .collect(),
        )
    }
}

fn upsertion(
    user: &str,
    mechanism: ScramMechanism,
    iterations: i32,
    password: &str,
    salt: Option<&[u8]>,
) -> Result<ScramCredentialUpsertion> {
    let rounds = u32::try_from(iterations)
        .ok()
        .filter(|&i| i > 0)
        .ok_or_else(|| {
            Error::config(
                "iterations",
                format!("is {iterations}; it must be positive"),
            )
        })?;
    let salt = match salt {
        Some(s) => s.to_vec(),
        None => {
            let mut s = vec![0; 32];
            getrandom::fill(&mut s)
                .map_err(|e| Error::config("salt", format!("no random salt: {e}")))?;
            s
        }
    };
    let salted = mechanism.salted_password(password.as_bytes(), &salt, rounds)?;
    Ok(ScramCredentialUpsertion::default()
        .with_name(user)
        .with_mechanism(mechanism.code())
        .with_iterations(iterations)
        .with_salt(bytes::Bytes::from(salt))
        .with_salted_password(bytes::Bytes::from(salted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_password_matches_rfc_7677_test_vector() {
        // RFC 7677's example: password "pencil", salt
        // W22ZaJ0SNY7soEsUEjb6gQ== (base64), 4096 iterations. This salted
        // password gives the RFC's StoredKey WG5d8oPm3OtcPnkdi4Uo7BkeZkBF...;
        // the bytes were checked with Python's hashlib.pbkdf2_hmac.
        let salt = [
            91, 109, 153, 104, 157, 18, 53, 142, 236, 160, 75, 20, 18, 54, 250, 129,
        ];
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let out = ScramMechanism::Sha256
            .salted_password(b"pencil", &salt, 4096)
            .unwrap();
        assert_eq!(
            hex(&out),
            "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"
        );
        let sha512 = ScramMechanism::Sha512
            .salted_password(b"pencil", &salt, 4096)
            .unwrap();
        assert_eq!(sha512.len(), 64);
        assert!(hex(&sha512).starts_with("f16efe1be67f1d09502ebd5ed9262fdd"));
        assert!(
            ScramMechanism::Unknown(9)
                .salted_password(b"p", &salt, 1)
                .is_err()
        );
    }

    #[test]
    fn upsertion_rejects_non_positive_iterations_and_draws_salt() {
        assert!(upsertion("u", ScramMechanism::Sha256, 0, "p", None).is_err());
        let a = upsertion("u", ScramMechanism::Sha256, 4096, "p", None).unwrap();
        let b = upsertion("u", ScramMechanism::Sha256, 4096, "p", None).unwrap();
        assert_eq!(a.salt.len(), 32);
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.salted_password, b.salted_password);
    }
}
