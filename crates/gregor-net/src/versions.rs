//! The broker's API version table and version negotiation.

use std::collections::BTreeMap;

use gregor_protocol::messages::ApiVersionsResponse;
use gregor_protocol::{ApiKey, VersionRange};

/// The versions of this client's side of `api` that it will pick on its own:
/// every version the codec has, except a latest version Kafka still marks as
/// unstable. Brokers advertise unstable versions only when told to, and the
/// Java client never picks them unless told to either; an explicit
/// [`send_at`](crate::Connection::send_at) can still use one.
pub fn client_versions(api: ApiKey) -> VersionRange {
    let all = api.versions();
    if api.latest_version_unstable() && all.max > all.min {
        VersionRange {
            min: all.min,
            max: all.max - 1,
        }
    } else {
        all
    }
}

/// The API versions a broker supports, from its ApiVersions response.
///
/// Keyed by the raw API key so APIs newer than this client are kept (and can
/// be listed) rather than dropped.
///
/// ```
/// use gregor_net::BrokerVersions;
/// use gregor_protocol::messages::ApiVersionsResponse;
/// use gregor_protocol::messages::api_versions_response::ApiVersion;
/// use gregor_protocol::ApiKey;
///
/// let resp = ApiVersionsResponse::default().with_api_keys(vec![
///     ApiVersion::default().with_api_key(3).with_min_version(0).with_max_version(9),
/// ]);
/// let versions = BrokerVersions::from_response(&resp);
/// assert_eq!(versions.get(ApiKey::Metadata).map(|r| r.max), Some(9));
/// assert_eq!(versions.negotiate(ApiKey::Metadata), Some(9));
/// assert_eq!(versions.negotiate(ApiKey::Produce), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerVersions {
    ranges: BTreeMap<i16, VersionRange>,
}

impl BrokerVersions {
    /// The table in a broker's ApiVersions response. An entry with
    /// `min > max` is meaningless and left out.
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let ranges = resp
            .api_keys
            .iter()
            .filter(|k| k.min_version <= k.max_version)
            .map(|k| {
                (
                    k.api_key,
                    VersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    },
                )
            })
            .collect();
        Self { ranges }
    }

    /// The versions of `api` the broker supports, or `None` if it does not
    /// list the API.
    pub fn get(&self, api: ApiKey) -> Option<VersionRange> {
        self.get_code(api.code())
    }

    /// Like [`get`](Self::get) for a raw API key, including ones this client
    /// does not know.
    pub fn get_code(&self, api_key: i16) -> Option<VersionRange> {
        self.ranges.get(&api_key).copied()
    }

    /// The highest version of `api` both the broker and this client (see
    /// [`client_versions`]) support, if any.
    pub fn negotiate(&self, api: ApiKey) -> Option<i16> {
        self.negotiate_within(api, client_versions(api))
    }

    /// The highest version of `api` in both the broker's range and `ours`.
    pub(crate) fn negotiate_within(&self, api: ApiKey, ours: VersionRange) -> Option<i16> {
        self.get(api)?.highest_common(&ours)
    }

    /// Every listed API as (raw API key, versions), in key order.
    pub fn iter(&self) -> impl Iterator<Item = (i16, VersionRange)> + '_ {
        self.ranges.iter().map(|(k, v)| (*k, *v))
    }

    /// How many APIs the broker listed.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the broker listed no API at all.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::messages::api_versions_response::ApiVersion;

    fn entry(key: i16, min: i16, max: i16) -> ApiVersion {
        ApiVersion::default()
            .with_api_key(key)
            .with_min_version(min)
            .with_max_version(max)
    }

    #[test]
    fn negotiation_takes_the_highest_common_version() {
        let resp = ApiVersionsResponse::default().with_api_keys(vec![
            entry(3, 0, 200),
            entry(0, 100, 200),
            entry(1, 4, 2),
            entry(9999, 0, 1),
        ]);
        let v = BrokerVersions::from_response(&resp);
        assert_eq!(
            v.negotiate(ApiKey::Metadata),
            Some(ApiKey::Metadata.versions().max)
        );
        assert_eq!(v.negotiate(ApiKey::Produce), None);
        assert_eq!(v.get(ApiKey::Fetch), None, "min > max is dropped");
        assert_eq!(v.get_code(9999), Some(VersionRange { min: 0, max: 1 }));
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn unstable_latest_versions_are_not_picked() {
        for &api in ApiKey::ALL {
            let ours = client_versions(api);
            let all = api.versions();
            assert!(all.min <= ours.min && ours.max <= all.max);
            if api.latest_version_unstable() && all.max > all.min {
                assert_eq!(ours.max, all.max - 1, "{api}");
            }
        }
    }
}
