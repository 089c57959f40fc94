//! The resolved type model: every struct of a message with its fields, Rust
//! names and types, custom defaults, and the version ranges each struct can
//! appear in.

use std::collections::BTreeMap;

use super::spec::{FieldSpec, SpecFile, Versions};

/// What a spec file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A request body.
    Request,
    /// A response body.
    Response,
    /// A request or response header.
    Header,
    /// A data schema (stored or embedded elsewhere).
    Data,
}

/// A field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `bool`
    Bool,
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `uint16`
    Uint16,
    /// `int32`
    Int32,
    /// `uint32`
    Uint32,
    /// `int64`
    Int64,
    /// `float64`
    Float64,
    /// `uuid`
    Uuid,
    /// `string`
    Str,
    /// `bytes`
    Bytes,
    /// `records`: raw record bytes, always optional.
    Records,
    /// A struct type by name.
    Struct(String),
    /// `[]T` of a primitive or struct.
    Array(Box<Ty>),
}

impl Ty {
    /// Parses a spec type name.
    fn parse(s: &str) -> Result<Ty, String> {
        if let Some(elem) = s.strip_prefix("[]") {
            let elem = Ty::parse(elem)?;
            if matches!(elem, Ty::Array(_) | Ty::Records) {
                return Err(format!("unsupported array element type in {s}"));
            }
            return Ok(Ty::Array(Box::new(elem)));
        }
        Ok(match s {
            "bool" => Ty::Bool,
            "int8" => Ty::Int8,
            "int16" => Ty::Int16,
            "uint16" => Ty::Uint16,
            "int32" => Ty::Int32,
            "uint32" => Ty::Uint32,
            "int64" => Ty::Int64,
            "float64" => Ty::Float64,
            "uuid" => Ty::Uuid,
            "string" => Ty::Str,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            name if name.starts_with(|c: char| c.is_ascii_uppercase()) => Ty::Struct(name.into()),
            other => return Err(format!("unknown type {other}")),
        })
    }

    /// The Rust type of a (non-optional) value.
    pub(crate) fn rust(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int8 => "i8".into(),
            Ty::Int16 => "i16".into(),
            Ty::Uint16 => "u16".into(),
            Ty::Int32 => "i32".into(),
            Ty::Uint32 => "u32".into(),
            Ty::Int64 => "i64".into(),
            Ty::Float64 => "f64".into(),
            Ty::Uuid => "Uuid".into(),
            Ty::Str => "StrBytes".into(),
            Ty::Bytes | Ty::Records => "Bytes".into(),
            Ty::Struct(n) => n.clone(),
            Ty::Array(e) => format!("Vec<{}>", e.rust()),
        }
    }

    /// Whether values of the type can be null at all.
    fn can_be_null(&self) -> bool {
        matches!(
            self,
            Ty::Str | Ty::Bytes | Ty::Records | Ty::Struct(_) | Ty::Array(_)
        )
    }

    /// The fixed wire size of a fixed-width type.
    pub(crate) fn fixed_size(&self) -> Option<usize> {
        Some(match self {
            Ty::Bool | Ty::Int8 => 1,
            Ty::Int16 | Ty::Uint16 => 2,
            Ty::Int32 | Ty::Uint32 => 4,
            Ty::Int64 | Ty::Float64 => 8,
            Ty::Uuid => 16,
            _ => return None,
        })
    }
}

/// A field's default value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DefaultValue {
    /// The type's zero value (0, false, "", empty, zero uuid); `Some(zero)`
    /// for optional fields, as Kafka defaults nullable fields to non-null.
    Zero,
    /// Null.
    Null,
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A float.
    Float(f64),
    /// A non-empty string.
    Str(String),
}

/// One resolved field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The snake_case name (without `r#`).
    pub(crate) snake: String,
    /// The Rust identifier (`r#type` for keywords).
    pub(crate) ident: String,
    /// Path used in error messages, e.g. `topics.name`.
    pub(crate) path: String,
    /// The type.
    pub(crate) ty: Ty,
    /// Whether the Rust type is wrapped in `Option` (nullable in some version).
    pub(crate) optional: bool,
    /// Description.
    pub(crate) about: Option<String>,
    /// Versions the field is present in (within the struct's scope).
    pub(crate) versions: Versions,
    /// Versions the field may be null in (within `versions`).
    pub(crate) nullable: Versions,
    /// The tag, for tagged fields.
    pub(crate) tag: Option<u32>,
    /// Versions in which the field is tagged (within `versions`).
    pub(crate) tagged: Versions,
    /// Versions using the compact encoding for this field.
    pub(crate) flexible: Versions,
    /// Default value.
    pub(crate) default: DefaultValue,
    /// Whether the field may be dropped silently.
    pub(crate) ignorable: bool,
    /// Whether the field is the key of its keyed array.
    pub(crate) map_key: bool,
}

impl Field {
    /// The Rust type of the field.
    pub(crate) fn rust_type(&self) -> String {
        if self.optional {
            format!("Option<{}>", self.ty.rust())
        } else {
            self.ty.rust()
        }
    }

    /// Versions in which the field is written in the main body.
    pub(crate) fn regular(&self) -> Versions {
        if self.tag.is_some() && !self.tagged.is_empty() {
            self.versions.below(self.tagged.lo)
        } else {
            self.versions
        }
    }

    /// Whether the field's default is Rust's `Default::default()` for its type.
    pub(crate) fn default_is_rust_default(&self) -> bool {
        match (&self.default, self.optional) {
            (DefaultValue::Null, true) => true,
            (DefaultValue::Zero, false) => true,
            (DefaultValue::Int(0), false) | (DefaultValue::Bool(false), false) => true,
            (DefaultValue::Float(f), false) => *f == 0.0,
            _ => false,
        }
    }
}

/// One struct type (the message itself or a nested one).
#[derive(Debug, Clone)]
pub(crate) struct StructDef {
    /// The type name.
    pub(crate) name: String,
    /// Description.
    pub(crate) about: Option<String>,
    /// Fields in wire order.
    pub(crate) fields: Vec<Field>,
    /// Versions in which the struct can appear.
    pub(crate) scope: Versions,
    /// Whether the struct is used as an array element.
    pub(crate) array_elem: bool,
}

/// One spec file, resolved.
#[derive(Debug, Clone)]
pub(crate) struct MessageDef {
    /// Spec file name, e.g. `MetadataRequest.json`.
    pub(crate) file: String,
    /// Message name.
    pub(crate) name: String,
    /// Rust module name.
    pub(crate) module: String,
    /// What the file describes.
    pub(crate) kind: Kind,
    /// API key of requests and responses.
    pub(crate) api_key: Option<i16>,
    /// Valid versions.
    pub(crate) valid: Versions,
    /// Flexible versions.
    pub(crate) flexible: Versions,
    /// Whether the latest version is unstable.
    pub(crate) latest_unstable: bool,
    /// Structs; the message itself first.
    pub(crate) structs: Vec<StructDef>,
}

impl MessageDef {
    /// Looks up a struct by name.
    pub(crate) fn struct_def(&self, name: &str) -> Option<&StructDef> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// Whether `version` of struct `s` uses the flexible encoding.
    pub(crate) fn has_flexible(&self, s: &StructDef) -> bool {
        !s.scope.intersect(self.flexible).is_empty()
    }

    /// The fewest bytes struct `name` takes in any version it appears in.
    pub(crate) fn min_size(&self, name: &str) -> usize {
        let Some(s) = self.struct_def(name) else {
            return 1;
        };
        s.scope
            .iter()
            .map(|v| self.min_size_at(s, v, 0))
            .min()
            .unwrap_or(0)
    }

    fn min_size_at(&self, s: &StructDef, v: i16, depth: usize) -> usize {
        if depth > 32 {
            return 0;
        }
        let flexible = self.flexible.contains(v);
        let mut size = usize::from(flexible);
        for f in s.fields.iter().filter(|f| f.regular().contains(v)) {
            let compact = f.flexible.contains(v);
            let nullable = f.nullable.contains(v);
            size += match &f.ty {
                Ty::Str => {
                    if compact {
                        1
                    } else {
                        2
                    }
                }
                Ty::Bytes | Ty::Records | Ty::Array(_) => {
                    if compact {
                        1
                    } else {
                        4
                    }
                }
                Ty::Struct(_) if nullable => 1,
                Ty::Struct(n) => self
                    .struct_def(n)
                    .map_or(0, |n| self.min_size_at(n, v, depth + 1)),
                t => t.fixed_size().unwrap_or(0),
            };
        }
        size
    }
}

/// Converts `UpperCamelCase` to `snake_case` (`KRaft` counts as one word).
pub(crate) fn snake_case(name: &str) -> String {
    let name = name.replace("KRaft", "Kraft");
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "try", "typeof", "unsized", "virtual", "yield",
];

/// A Rust identifier for a snake_case name (raw for keywords).
fn ident(snake: &str) -> String {
    if KEYWORDS.contains(&snake) {
        format!("r#{snake}")
    } else {
        snake.to_string()
    }
}

/// One place a struct type is used.
struct Usage<'a> {
    fields: Option<&'a [FieldSpec]>,
    about: Option<String>,
    scopes: Versions,
    paths: Vec<String>,
    array_elem: bool,
}

/// Collects struct definitions and their uses, depth first.
struct Collector<'a> {
    common: BTreeMap<&'a str, &'a [FieldSpec]>,
    order: Vec<String>,
    uses: BTreeMap<String, Usage<'a>>,
}

impl<'a> Collector<'a> {
    fn walk(
        &mut self,
        fields: &'a [FieldSpec],
        scope: Versions,
        prefix: &str,
    ) -> Result<(), String> {
        for f in fields {
            let ty = Ty::parse(&f.ty)?;
            let (name, array_elem) = match &ty {
                Ty::Struct(n) => (n.clone(), false),
                Ty::Array(e) => match &**e {
                    Ty::Struct(n) => (n.clone(), true),
                    _ => continue,
                },
                _ => continue,
            };
            let versions = Versions::parse(&f.versions)?.intersect(scope);
            let path = join_path(prefix, &snake_case(&f.name));
            let inline = f.fields.as_deref();
            let common = self.common.get(name.as_str()).copied();
            if inline.is_some() && common.is_some() {
                return Err(format!("struct {name} is both inline and common"));
            }
            let entry = self.uses.entry(name.clone()).or_insert_with(|| Usage {
                fields: None,
                about: None,
                scopes: Versions::NONE,
                paths: Vec::new(),
                array_elem: false,
            });
            if entry.fields.is_none() && entry.paths.is_empty() {
                self.order.push(name.clone());
            }
            if let Some(inline) = inline {
                if entry.fields.is_some() {
                    return Err(format!("struct {name} is defined twice"));
                }
                entry.fields = Some(inline);
                entry.about = f.about.clone();
            } else if let Some(common) = common {
                entry.fields = Some(common);
            }
            entry.scopes = entry.scopes.hull(versions);
            entry.paths.push(path.clone());
            entry.array_elem |= array_elem;
            if let Some(body) = inline.or(common)
                && !versions.is_empty()
            {
                self.walk(body, versions, &path)?;
            }
        }
        Ok(())
    }
}

fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Resolves one spec file.
pub(crate) fn build(file: &str, spec: &SpecFile) -> Result<MessageDef, String> {
    let kind = match spec.kind.as_str() {
        "request" => Kind::Request,
        "response" => Kind::Response,
        "header" => Kind::Header,
        "data" => Kind::Data,
        other => return Err(format!("unknown message type {other}")),
    };
    let valid = Versions::parse(&spec.valid_versions)?;
    let flexible = Versions::parse(&spec.flexible_versions)?;
    if !flexible.is_empty() && flexible.hi != i16::MAX {
        return Err("flexibleVersions must be open-ended".into());
    }
    let mut c = Collector {
        common: spec
            .common_structs
            .iter()
            .map(|s| (s.name.as_str(), s.fields.as_slice()))
            .collect(),
        order: Vec::new(),
        uses: BTreeMap::new(),
    };
    c.walk(&spec.fields, valid, "")?;

    let mut structs = vec![StructDef {
        name: spec.name.clone(),
        about: None,
        fields: resolve_fields(&spec.fields, valid, flexible, "")?,
        scope: valid,
        array_elem: false,
    }];
    for name in &c.order {
        let u = &c.uses[name];
        let fields = u
            .fields
            .ok_or_else(|| format!("struct {name} has no definition"))?;
        if name == &spec.name {
            return Err(format!("struct {name} has the message's name"));
        }
        let prefix = if u.paths.len() == 1 {
            u.paths[0].clone()
        } else {
            name.clone()
        };
        structs.push(StructDef {
            name: name.clone(),
            about: u.about.clone(),
            fields: resolve_fields(fields, u.scopes, flexible, &prefix)?,
            scope: u.scopes,
            array_elem: u.array_elem,
        });
    }
    Ok(MessageDef {
        file: file.to_string(),
        name: spec.name.clone(),
        module: snake_case(&spec.name),
        kind,
        api_key: spec.api_key,
        valid,
        flexible,
        latest_unstable: spec.latest_version_unstable,
        structs,
    })
}

fn resolve_fields(
    fields: &[FieldSpec],
    scope: Versions,
    flexible: Versions,
    prefix: &str,
) -> Result<Vec<Field>, String> {
    let mut out: Vec<Field> = Vec::with_capacity(fields.len());
    for f in fields {
        let field = resolve_field(f, scope, flexible, prefix)
            .map_err(|e| format!("field {}: {e}", f.name))?;
        if out.iter().any(|o| o.snake == field.snake) {
            return Err(format!("duplicate field {}", field.snake));
        }
        out.push(field);
    }
    let mut tags: Vec<u32> = out.iter().filter_map(|f| f.tag).collect();
    tags.sort_unstable();
    if tags.windows(2).any(|w| w[0] == w[1]) {
        return Err("duplicate tag".into());
    }
    Ok(out)
}

fn resolve_field(
    f: &FieldSpec,
    scope: Versions,
    flexible: Versions,
    prefix: &str,
) -> Result<Field, String> {
    let ty = Ty::parse(&f.ty)?;
    let all_versions = Versions::parse(&f.versions)?;
    let versions = all_versions.intersect(scope);
    let nullable_all = Versions::parse_opt(f.nullable_versions.as_deref())?.intersect(all_versions);
    if !nullable_all.is_empty() && !ty.can_be_null() {
        return Err(format!("type {} cannot be nullable", f.ty));
    }
    let optional = !nullable_all.is_empty() || ty == Ty::Records;
    let tagged = Versions::parse_opt(f.tagged_versions.as_deref())?;
    if f.tag.is_some() != f.tagged_versions.is_some() {
        return Err("tag and taggedVersions must come together".into());
    }
    if f.tag.is_some() && tagged.hi != i16::MAX {
        return Err("taggedVersions must be open-ended".into());
    }
    if !tagged.intersect(versions).is_subset_of(flexible) {
        return Err("tagged in a non-flexible version".into());
    }
    let field_flexible = match &f.flexible_versions {
        Some(s) => Versions::parse(s)?,
        None => flexible,
    };
    let default = parse_default(f, &ty, optional)?;
    let snake = snake_case(&f.name);
    Ok(Field {
        ident: ident(&snake),
        path: join_path(prefix, &snake),
        snake,
        ty,
        optional,
        about: f.about.clone(),
        versions,
        nullable: nullable_all.intersect(versions),
        tag: f.tag,
        tagged: tagged.intersect(versions),
        flexible: field_flexible,
        default,
        ignorable: f.ignorable,
        map_key: f.map_key,
    })
}

fn parse_default(f: &FieldSpec, ty: &Ty, optional: bool) -> Result<DefaultValue, String> {
    let Some(value) = &f.default else {
        return Ok(if *ty == Ty::Records {
            DefaultValue::Null
        } else {
            DefaultValue::Zero
        });
    };
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        other => return Err(format!("unsupported default {other}")),
    };
    if text == "null" {
        if !optional {
            return Err("null default on a non-nullable field".into());
        }
        return Ok(DefaultValue::Null);
    }
    Ok(match ty {
        Ty::Bool => DefaultValue::Bool(text.parse().map_err(|_| format!("bad bool {text}"))?),
        Ty::Int8 | Ty::Int16 | Ty::Uint16 | Ty::Int32 | Ty::Uint32 | Ty::Int64 => {
            let v = parse_int(&text)?;
            check_int_range(ty, v)?;
            DefaultValue::Int(v)
        }
        Ty::Float64 => DefaultValue::Float(text.parse().map_err(|_| format!("bad float {text}"))?),
        Ty::Str if text.is_empty() => DefaultValue::Zero,
        Ty::Str => DefaultValue::Str(text),
        _ => return Err(format!("unsupported default {text} for {ty:?}")),
    })
}

fn parse_int(text: &str) -> Result<i64, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse()
    }
    .map_err(|e| format!("bad integer default {text}: {e}"))?;
    Ok(if neg { -v } else { v })
}

fn check_int_range(ty: &Ty, v: i64) -> Result<(), String> {
    let (lo, hi) = match ty {
        Ty::Int8 => (i64::from(i8::MIN), i64::from(i8::MAX)),
        Ty::Int16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
        Ty::Uint16 => (0, i64::from(u16::MAX)),
        Ty::Int32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        Ty::Uint32 => (0, i64::from(u32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    if v < lo || v > hi {
        return Err(format!("default {v} out of range"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_names() {
        assert_eq!(snake_case("ErrorCode"), "error_code");
        assert_eq!(snake_case("V3AndBelowTopics"), "v3_and_below_topics");
        assert_eq!(snake_case("KRaftVersionRecord"), "kraft_version_record");
        assert_eq!(snake_case("isKRaftController"), "is_kraft_controller");
        assert_eq!(snake_case("ClientID"), "client_id");
        assert_eq!(ident("type"), "r#type");
    }

    #[test]
    fn int_defaults() {
        assert_eq!(parse_int("0x7fffffff").unwrap(), 2_147_483_647);
        assert_eq!(parse_int("-2147483648").unwrap(), -2_147_483_648);
        assert_eq!(parse_int("60000").unwrap(), 60000);
        assert_eq!(parse_int("0").unwrap(), 0);
    }
}
