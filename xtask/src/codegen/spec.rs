//! Reading Kafka's JSON message specs: comment stripping, the serde model of
//! a spec file, and version ranges.

use std::fmt;

use serde::Deserialize;

/// An inclusive range of versions; empty when `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Versions {
    /// Lowest version in the range.
    pub(crate) lo: i16,
    /// Highest version in the range (`i16::MAX` for an open range).
    pub(crate) hi: i16,
}

impl Versions {
    /// The empty range.
    pub(crate) const NONE: Versions = Versions { lo: 0, hi: -1 };

    /// Parses `none`, `N`, `N+` or `N-M`.
    pub(crate) fn parse(s: &str) -> Result<Versions, String> {
        let s = s.trim();
        let num = |t: &str| {
            t.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version range {s:?}: {e}"))
        };
        if s == "none" {
            Ok(Versions::NONE)
        } else if let Some(lo) = s.strip_suffix('+') {
            Ok(Versions {
                lo: num(lo)?,
                hi: i16::MAX,
            })
        } else if let Some((lo, hi)) = s.split_once('-') {
            Ok(Versions {
                lo: num(lo)?,
                hi: num(hi)?,
            })
        } else {
            let v = num(s)?;
            Ok(Versions { lo: v, hi: v })
        }
    }

    /// Parses an optional range, `None` meaning the empty range.
    pub(crate) fn parse_opt(s: Option<&str>) -> Result<Versions, String> {
        s.map_or(Ok(Versions::NONE), Versions::parse)
    }

    /// Whether the range holds no version.
    pub(crate) fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    /// Whether `v` is in the range.
    pub(crate) fn contains(self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// The versions in both ranges.
    pub(crate) fn intersect(self, other: Versions) -> Versions {
        let r = Versions {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        };
        if r.is_empty() { Versions::NONE } else { r }
    }

    /// The smallest range holding both ranges.
    pub(crate) fn hull(self, other: Versions) -> Versions {
        match (self.is_empty(), other.is_empty()) {
            (true, _) => other,
            (_, true) => self,
            _ => Versions {
                lo: self.lo.min(other.lo),
                hi: self.hi.max(other.hi),
            },
        }
    }

    /// Whether every version of `self` is in `other`.
    pub(crate) fn is_subset_of(self, other: Versions) -> bool {
        self.is_empty() || (other.lo <= self.lo && self.hi <= other.hi)
    }

    /// The versions of `self` below `v` (exclusive).
    pub(crate) fn below(self, v: i16) -> Versions {
        self.intersect(Versions {
            lo: i16::MIN,
            hi: v.saturating_sub(1),
        })
    }

    /// Every version in the range, in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = i16> {
        (self.lo..=self.hi).take_while(move |_| !self.is_empty())
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("none")
        } else if self.hi == i16::MAX {
            write!(f, "{}+", self.lo)
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// One spec file as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpecFile {
    /// The API key of a request or response.
    pub(crate) api_key: Option<i16>,
    /// `request`, `response`, `header` or `data`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The message name, e.g. `MetadataRequest`.
    pub(crate) name: String,
    /// The versions the message has.
    pub(crate) valid_versions: String,
    /// The versions using the flexible encoding.
    pub(crate) flexible_versions: String,
    /// Whether the highest version is still unstable.
    #[serde(default)]
    pub(crate) latest_version_unstable: bool,
    /// The top-level fields.
    pub(crate) fields: Vec<FieldSpec>,
    /// Struct types shared by several fields.
    #[serde(default)]
    pub(crate) common_structs: Vec<CommonStructSpec>,
}

/// A struct from `commonStructs`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommonStructSpec {
    /// The struct's type name.
    pub(crate) name: String,
    /// Its fields.
    pub(crate) fields: Vec<FieldSpec>,
}

/// One field as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FieldSpec {
    /// The field's name, in UpperCamelCase.
    pub(crate) name: String,
    /// The type: a primitive, a struct name, or `[]T`.
    #[serde(rename = "type")]
    pub(crate) ty: String,
    /// The versions the field is present in.
    pub(crate) versions: String,
    /// Description.
    pub(crate) about: Option<String>,
    /// Inline struct fields (for struct and array-of-struct types).
    pub(crate) fields: Option<Vec<FieldSpec>>,
    /// Custom default (a string, number or boolean in the JSON).
    pub(crate) default: Option<serde_json::Value>,
    /// Whether the field may be dropped silently in versions lacking it.
    #[serde(default)]
    pub(crate) ignorable: bool,
    /// Versions in which the field may be null.
    pub(crate) nullable_versions: Option<String>,
    /// Whether this is the key of a keyed array.
    #[serde(default)]
    pub(crate) map_key: bool,
    /// The tag of a tagged field (a number, or a string holding one).
    #[serde(default, deserialize_with = "number_or_string")]
    pub(crate) tag: Option<u32>,
    /// Versions in which the field is tagged.
    pub(crate) tagged_versions: Option<String>,
    /// Field-level override of the message's flexible versions.
    pub(crate) flexible_versions: Option<String>,
}

/// Accepts `0` or `"0"`, as specs write tags both ways.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tag {
        Number(u32),
        Text(String),
    }
    match Option::<Tag>::deserialize(d)? {
        None => Ok(None),
        Some(Tag::Number(n)) => Ok(Some(n)),
        Some(Tag::Text(t)) => t.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// Removes `//` comments (outside strings) so the text is plain JSON.
pub(crate) fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

/// Parses one spec file's text. Some specs repeat a key with the same
/// value, so the text goes through `serde_json::Value` (last one wins).
pub(crate) fn parse_spec(src: &str) -> Result<SpecFile, String> {
    let value: serde_json::Value =
        serde_json::from_str(&strip_comments(src)).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            Versions::parse("3+").unwrap(),
            Versions {
                lo: 3,
                hi: i16::MAX
            }
        );
        assert_eq!(Versions::parse("1-4").unwrap(), Versions { lo: 1, hi: 4 });
        assert_eq!(Versions::parse("0").unwrap(), Versions { lo: 0, hi: 0 });
        assert!(Versions::parse("none").unwrap().is_empty());
        assert_eq!(
            Versions::parse("2-5").unwrap().below(3),
            Versions { lo: 2, hi: 2 }
        );
    }

    #[test]
    fn comments_outside_strings_only() {
        let s = strip_comments("{ // c\n \"a\": \"http://x\" // d\n}");
        assert_eq!(s, "{ \n \"a\": \"http://x\" \n}");
    }
}
