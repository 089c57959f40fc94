//! [`Outcomes`]: the per-item results every batch operation returns.

use std::borrow::Borrow;
use std::fmt;

use crate::{Error, Result};

/// The result of a batch operation, one entry per item asked about, in the
/// order asked (an item asked twice appears once).
///
/// Each item succeeds or fails on its own: a topic that exists already does
/// not stop the others from being created. A failure to reach the broker an
/// item was routed to is that item's error.
///
/// ```
/// use gregor_client::admin::Outcomes;
/// use gregor_client::Error;
///
/// let outcomes: Outcomes<String, i32> = Outcomes::from_items(vec![
///     ("a".to_owned(), Ok(1)),
///     ("b".to_owned(), Err(Error::Closed("admin"))),
/// ]);
/// assert_eq!(outcomes.get("a").and_then(|r| r.as_ref().ok()), Some(&1));
/// assert_eq!(outcomes.errors().count(), 1);
/// assert!(outcomes.into_result().is_err());
/// ```
#[derive(Clone)]
pub struct Outcomes<K, T> {
    items: Vec<(K, Result<T>)>,
}

impl<K, T> Outcomes<K, T> {
    /// Outcomes from `(item, result)` pairs, kept in the order given.
    pub fn from_items(items: Vec<(K, Result<T>)>) -> Self {
        Self { items }
    }

    /// The result for `key`, if it was asked about.
    pub fn get<Q>(&self, key: &Q) -> Option<&Result<T>>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.items
            .iter()
            .find(|(k, _)| k.borrow() == key)
            .map(|(_, r)| r)
    }

    /// Every item with its result.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Result<T>)> {
        self.items.iter().map(|(k, r)| (k, r))
    }

    /// The items that failed, with their errors.
    pub fn errors(&self) -> impl Iterator<Item = (&K, &Error)> {
        self.items
            .iter()
            .filter_map(|(k, r)| r.as_ref().err().map(|e| (k, e)))
    }

    /// Whether every item succeeded.
    pub fn is_all_ok(&self) -> bool {
        self.items.iter().all(|(_, r)| r.is_ok())
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item was asked about.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `(item, result)` pairs.
    pub fn into_items(self) -> Vec<(K, Result<T>)> {
        self.items
    }

    /// Every item's value, or the first item's error.
    ///
    /// # Errors
    ///
    /// The error of the first item that failed.
    pub fn into_result(self) -> Result<Vec<(K, T)>> {
        self.items
            .into_iter()
            .map(|(k, r)| r.map(|v| (k, v)))
            .collect()
    }
}

impl<K, T> IntoIterator for Outcomes<K, T> {
    type Item = (K, Result<T>);
    type IntoIter = std::vec::IntoIter<(K, Result<T>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<K: fmt::Debug, T: fmt::Debug> fmt::Debug for Outcomes<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.items.iter().map(|(k, r)| (k, r)))
            .finish()
    }
}

impl<K, T> Default for Outcomes<K, T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

/// An enum of Kafka's `i8` codes (ACL operations, resource types, SCRAM
/// mechanisms), with `Unknown(code)` for codes newer than this client.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A code this client does not know.
            Unknown(i8),
        }

        impl $name {
            /// Kafka's code for it.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(code) => code,
                }
            }

            /// The value with Kafka's `code`.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }
        }
    };
}
pub(crate) use code_enum;

/// `items` without repeats, first occurrence kept.
pub(crate) fn dedup<K: Ord + Clone>(items: impl IntoIterator<Item = K>) -> Vec<K> {
    let mut seen = std::collections::BTreeSet::new();
    items
        .into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_keep_order_and_report_the_first_error() {
        let o: Outcomes<String, u8> = Outcomes::from_items(vec![
            ("x".into(), Ok(1)),
            ("y".into(), Err(Error::Closed("admin"))),
            ("z".into(), Err(Error::config("f", "r"))),
        ]);
        let keys: Vec<&String> = o.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["x", "y", "z"]);
        assert!(!o.is_all_ok());
        assert_eq!(o.len(), 3);
        let err = o.clone().into_result().unwrap_err();
        assert!(matches!(err, Error::Closed(_)));
        assert!(format!("{o:?}").contains("\"x\": Ok(1)"));
    }

    #[test]
    fn dedup_keeps_first_occurrences_in_order() {
        assert_eq!(dedup([3, 1, 3, 2, 1]), [3, 1, 2]);
    }
}
