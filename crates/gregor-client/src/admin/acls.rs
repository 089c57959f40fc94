//! ACLs: CreateAcls, DescribeAcls and DeleteAcls, at any broker.

use std::fmt;

use gregor_net::Connection;
use gregor_protocol::ApiKey;
use gregor_protocol::messages::create_acls_request::AclCreation;
use gregor_protocol::messages::delete_acls_request::DeleteAclsFilter;
use gregor_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

use super::types::code_enum;
use super::{Admin, Outcomes, all_failed, code_result, need_version, net, types, version};
use crate::{Error, Result};

code_enum! {
    /// The kind of resource an ACL is about.
    pub enum ResourceType {
        /// Any kind (filters only).
        Any = 1,
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster.
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
        /// A delegation token.
        DelegationToken = 6,
        /// A user.
        User = 7,
    }
}

code_enum! {
    /// How an ACL's resource name matches.
    pub enum PatternType {
        /// Any pattern type (filters only).
        Any = 1,
        /// Every ACL that would apply to the name (filters only).
        Match = 2,
        /// The name exactly (`*` meaning every resource).
        Literal = 3,
        /// Every resource whose name starts with it (DescribeAcls v1+).
        Prefixed = 4,
    }
}

code_enum! {
    /// The operation an ACL allows or denies.
    pub enum AclOperation {
        /// Any operation (filters only).
        Any = 1,
        /// Every operation.
        All = 2,
        /// Read.
        Read = 3,
        /// Write.
        Write = 4,
        /// Create.
        Create = 5,
        /// Delete.
        Delete = 6,
        /// Alter.
        Alter = 7,
        /// Describe.
        Describe = 8,
        /// Inter-broker cluster actions.
        ClusterAction = 9,
        /// Describe configs.
        DescribeConfigs = 10,
        /// Alter configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
        /// Create delegation tokens.
        CreateTokens = 13,
        /// Describe delegation tokens.
        DescribeTokens = 14,
    }
}

code_enum! {
    /// Whether an ACL allows or denies.
    pub enum AclPermission {
        /// Either (filters only).
        Any = 1,
        /// Denies.
        Deny = 2,
        /// Allows.
        Allow = 3,
    }
}

/// One ACL: a principal may (or may not) do an operation on a resource
/// from a host.
///
/// ```
/// use gregor_client::admin::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
///
/// let acl = AclBinding::new(ResourceType::Topic, "orders-", "User:alice", AclOperation::Read, AclPermission::Allow)
///     .with_pattern_type(PatternType::Prefixed)
///     .with_host("10.0.0.1");
/// assert_eq!(acl.to_filter().resource_name.as_deref(), Some("orders-"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource's name (or prefix).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// The principal, e.g. `User:alice`.
    pub principal: String,
    /// The host, or `*` for any.
    pub host: String,
    /// The operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
}

impl AclBinding {
    /// An ACL for the literal resource name, from any host.
    pub fn new(
        resource_type: ResourceType,
        resource_name: impl Into<String>,
        principal: impl Into<String>,
        operation: AclOperation,
        permission: AclPermission,
    ) -> Self {
        AclBinding {
            resource_type,
            resource_name: resource_name.into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "*".to_owned(),
            operation,
            permission,
        }
    }

    /// Sets how the resource name matches.
    #[must_use]
    pub fn with_pattern_type(mut self, pattern_type: PatternType) -> Self {
        self.pattern_type = pattern_type;
        self
    }

    /// Limits the ACL to one host.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The filter that matches exactly this ACL.
    pub fn to_filter(&self) -> AclFilter {
        AclFilter {
            resource_type: self.resource_type,
            resource_name: Some(self.resource_name.clone()),
            pattern_type: self.pattern_type,
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: self.operation,
            permission: self.permission,
        }
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} {:?} on {:?} {:?} {:?} from {}",
            self.permission,
            self.principal,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.host
        )
    }
}

/// Which ACLs to describe or delete; `None` fields and `Any` values match
/// everything.
///
/// ```
/// use gregor_client::admin::{AclFilter, ResourceType};
///
/// let alice_on_topics = AclFilter::any()
///     .with_resource_type(ResourceType::Topic)
///     .with_principal("User:alice");
/// # let _ = alice_on_topics;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclFilter {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource name.
    pub resource_name: Option<String>,
    /// The pattern type.
    pub pattern_type: PatternType,
    /// The principal.
    pub principal: Option<String>,
    /// The host.
    pub host: Option<String>,
    /// The operation.
    pub operation: AclOperation,
    /// The permission.
    pub permission: AclPermission,
}

impl AclFilter {
    /// The filter that matches every ACL.
    pub fn any() -> Self {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// Only ACLs on this kind of resource.
    #[must_use]
    pub fn with_resource_type(mut self, t: ResourceType) -> Self {
        self.resource_type = t;
        self
    }

    /// Only ACLs on this resource name.
    #[must_use]
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Only ACLs with this pattern type.
    #[must_use]
    pub fn with_pattern_type(mut self, p: PatternType) -> Self {
        self.pattern_type = p;
        self
    }

    /// Only ACLs of this principal.
    #[must_use]
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// Only ACLs for this host.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Only ACLs for this operation.
    #[must_use]
    pub fn with_operation(mut self, op: AclOperation) -> Self {
        self.operation = op;
        self
    }

    /// Only ACLs with this permission.
    #[must_use]
    pub fn with_permission(mut self, p: AclPermission) -> Self {
        self.permission = p;
        self
    }
}

impl Default for AclFilter {
    fn default() -> Self {
        AclFilter::any()
    }
}

impl fmt::Display for AclFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Whether each ACL was created.
pub type CreateAclsResult = Outcomes<AclBinding, ()>;
/// For each filter, the ACLs it deleted, each with whether that worked.
pub type DeleteAclsResult = Outcomes<AclFilter, Outcomes<AclBinding, ()>>;

impl Admin {
    /// Creates `acls`. Needs an authorizer on the broker
    /// (`SECURITY_DISABLED` otherwise).
    ///
    /// ```no_run
    /// # use gregor_client::admin::*;
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let acl = AclBinding::new(ResourceType::Topic, "orders", "User:alice", AclOperation::Read, AclPermission::Allow);
    /// admin.create_acls(&[acl]).await.into_result()?;
    /// let found = admin.describe_acls(&AclFilter::any().with_principal("User:alice")).await?;
    /// admin.delete_acls(&[AclFilter::any().with_principal("User:alice")]).await.into_result()?;
    /// # let _ = found;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_acls(&self, acls: &[AclBinding]) -> CreateAclsResult {
        let acls = types::dedup(acls.iter().cloned());
        if acls.is_empty() {
            return Outcomes::default();
        }
        let wanted = &acls;
        let sent = self
            .retry(self.deadline(), || async move {
                let conn = self.cluster.any_connection().await?;
                let v = version(&conn, ApiKey::CreateAcls)?;
                if wanted
                    .iter()
                    .any(|a| a.pattern_type != PatternType::Literal)
                {
                    need_version(
                        &conn,
                        ApiKey::CreateAcls,
                        v,
                        1,
                        "a non-literal pattern type",
                    )?;
                }
                let creations = wanted
                    .iter()
                    .map(|a| {
                        let c = AclCreation::default()
                            .with_resource_type(a.resource_type.code())
                            .with_resource_name(a.resource_name.as_str())
                            .with_principal(a.principal.as_str())
                            .with_host(a.host.as_str())
                            .with_operation(a.operation.code())
                            .with_permission_type(a.permission.code());
                        if v >= 1 {
                            c.with_resource_pattern_type(a.pattern_type.code())
                        } else {
                            c
                        }
                    })
                    .collect();
                let req = CreateAclsRequest::default().with_creations(creations);
                let resp = conn.send(&req).await.map_err(net)?;
                Ok((conn.broker().clone(), resp.results))
            })
            .await;
        let (broker, results) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&acls, &e),
        };
        let mut results = results.into_iter();
        Outcomes::from_items(
            acls.into_iter()
                .map(|acl| {
                    let r = match results.next() {
                        Some(r) => code_result(
                            &broker,
                            ApiKey::CreateAcls,
                            r.error_code,
                            r.error_message.as_ref(),
                        )
                        .map_err(Error::from),
                        None => Err(Error::Incomplete {
                            api: ApiKey::CreateAcls,
                            broker: broker.clone(),
                            item: format!("ACL {acl}"),
                        }),
                    };
                    (acl, r)
                })
                .collect(),
        )
    }

    /// The ACLs `filter` matches.
    ///
    /// # Errors
    ///
    /// The broker's (`SECURITY_DISABLED` without an authorizer), after
    /// retrying retriable ones until the timeout.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>> {
        self.retry(self.deadline(), || async {
            let conn = self.cluster.any_connection().await?;
            let v = version(&conn, ApiKey::DescribeAcls)?;
            check_filter_version(&conn, ApiKey::DescribeAcls, v, filter)?;
            let mut req = DescribeAclsRequest::default()
                .with_resource_type_filter(filter.resource_type.code())
                .with_resource_name_filter(filter.resource_name.as_deref().map(Into::into))
                .with_principal_filter(filter.principal.as_deref().map(Into::into))
                .with_host_filter(filter.host.as_deref().map(Into::into))
                .with_operation(filter.operation.code())
                .with_permission_type(filter.permission.code());
            if v >= 1 {
                req = req.with_pattern_type_filter(filter.pattern_type.code());
            }
            let resp = conn.send(&req).await.map_err(net)?;
            code_result(
                conn.broker(),
                ApiKey::DescribeAcls,
                resp.error_code,
                resp.error_message.as_ref(),
            )?;
            let mut out = Vec::new();
            for r in &resp.resources {
                for a in &r.acls {
                    out.push(AclBinding {
                        resource_type: ResourceType::from_code(r.resource_type),
                        resource_name: r.resource_name.to_string(),
                        pattern_type: if v >= 1 {
                            PatternType::from_code(r.pattern_type)
                        } else {
                            PatternType::Literal
                        },
                        principal: a.principal.to_string(),
                        host: a.host.to_string(),
                        operation: AclOperation::from_code(a.operation),
                        permission: AclPermission::from_code(a.permission_type),
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// Deletes the ACLs each filter matches, returning them.
    pub async fn delete_acls(&self, filters: &[AclFilter]) -> DeleteAclsResult {
        let filters = types::dedup(filters.iter().cloned());
        if filters.is_empty() {
            return Outcomes::default();
        }
        let wanted = &filters;
        let sent = self
            .retry(self.deadline(), || async move {
                let conn = self.cluster.any_connection().await?;
                let v = version(&conn, ApiKey::DeleteAcls)?;
                for f in wanted {
                    check_filter_version(&conn, ApiKey::DeleteAcls, v, f)?;
                }
                let wire = wanted
                    .iter()
                    .map(|f| {
                        let w = DeleteAclsFilter::default()
                            .with_resource_type_filter(f.resource_type.code())
                            .with_resource_name_filter(f.resource_name.as_deref().map(Into::into))
                            .with_principal_filter(f.principal.as_deref().map(Into::into))
                            .with_host_filter(f.host.as_deref().map(Into::into))
                            .with_operation(f.operation.code())
                            .with_permission_type(f.permission.code());
                        if v >= 1 {
                            w.with_pattern_type_filter(f.pattern_type.code())
                        } else {
                            w
                        }
                    })
                    .collect();
                let resp = conn
                    .send(&DeleteAclsRequest::default().with_filters(wire))
                    .await
                    .map_err(net)?;
                Ok((conn.broker().clone(), v, resp.filter_results))
            })
            .await;
        let (broker, v, results) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&filters, &e),
        };
        let mut results = results.into_iter();
        Outcomes::from_items(
            filters
                .into_iter()
                .map(|filter| {
                    let r = match results.next() {
                        Some(r) => code_result(
                            &broker,
                            ApiKey::DeleteAcls,
                            r.error_code,
                            r.error_message.as_ref(),
                        )
                        .map_err(Error::from)
                        .map(|()| {
                            Outcomes::from_items(
                                r.matching_acls
                                    .iter()
                                    .map(|m| {
                                        let acl = AclBinding {
                                            resource_type: ResourceType::from_code(m.resource_type),
                                            resource_name: m.resource_name.to_string(),
                                            pattern_type: if v >= 1 {
                                                PatternType::from_code(m.pattern_type)
                                            } else {
                                                PatternType::Literal
                                            },
                                            principal: m.principal.to_string(),
                                            host: m.host.to_string(),
                                            operation: AclOperation::from_code(m.operation),
                                            permission: AclPermission::from_code(m.permission_type),
                                        };
                                        let ok = code_result(
                                            &broker,
                                            ApiKey::DeleteAcls,
                                            m.error_code,
                                            m.error_message.as_ref(),
                                        )
                                        .map_err(Error::from);
                                        (acl, ok)
                                    })
                                    .collect(),
                            )
                        }),
                        None => Err(Error::Incomplete {
                            api: ApiKey::DeleteAcls,
                            broker: broker.clone(),
                            item: format!("filter {filter}"),
                        }),
                    };
                    (filter, r)
                })
                .collect(),
        )
    }
}

/// Version 0 knows only literal patterns (and matches only those).
fn check_filter_version(conn: &Connection, api: ApiKey, v: i16, f: &AclFilter) -> Result<()> {
    if matches!(f.pattern_type, PatternType::Literal | PatternType::Any) {
        return Ok(());
    }
    need_version(conn, api, v, 1, "a prefixed or match pattern filter")
}
