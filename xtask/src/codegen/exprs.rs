//! Rust expressions for one field: version conditions, default values,
//! and the read, write and test-sample code of each field type.

use std::collections::BTreeSet;

use super::model::{DefaultValue, Field, Ty};
use super::spec::Versions;

/// A Rust boolean expression over `version` that is true for the versions of
/// `set` within `scope` (`true`/`false` when it does not depend on `version`).
pub(crate) fn cond(set: Versions, scope: Versions) -> String {
    let s = set.intersect(scope);
    if s.is_empty() {
        return "false".into();
    }
    match (s.lo > scope.lo, s.hi < scope.hi) {
        (false, false) => "true".into(),
        (true, false) => format!("version >= {}", s.lo),
        (false, true) => format!("version <= {}", s.hi),
        (true, true) if s.lo == s.hi => format!("version == {}", s.lo),
        (true, true) => format!("({}..={}).contains(&version)", s.lo, s.hi),
    }
}

/// The expression true for the versions of `scope` outside `set`.
pub(crate) fn absent(set: Versions, scope: Versions) -> String {
    let s = set.intersect(scope);
    if s.is_empty() {
        return "true".into();
    }
    let mut parts = Vec::new();
    if s.lo > scope.lo {
        parts.push(format!("version < {}", s.lo));
    }
    if s.hi < scope.hi {
        parts.push(format!("version > {}", s.hi));
    }
    match parts.len() {
        0 => "false".into(),
        1 => parts.remove(0),
        _ => format!("({})", parts.join(" || ")),
    }
}

/// `a && b`, simplified when `a` is a constant.
pub(crate) fn and(a: &str, b: &str) -> String {
    match a {
        "true" => b.to_string(),
        _ => format!("{a} && {b}"),
    }
}

/// Escapes a string for a Rust string literal.
pub(crate) fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// The Rust name of a parameter, `_`-prefixed when `body` does not use it.
pub(crate) fn param(body: &str, name: &str) -> String {
    if idents(body).contains(name) {
        name.to_string()
    } else {
        format!("_{name}")
    }
}

/// The identifiers used in `code`, outside comments and string literals
/// (field accesses like `self.version` and field names in struct literals
/// like `version: 1` do not count).
pub(crate) fn idents(code: &str) -> BTreeSet<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut prev = ' ';
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            prev = '\n';
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            prev = '"';
            continue;
        } else if c.is_alphabetic() || c == '_' {
            let begin = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let id: String = chars[begin..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let field_name = chars.get(j) == Some(&':') && chars.get(j + 1) != Some(&':');
            if prev != '.' && prev != '#' && !field_name {
                out.insert(id);
            }
            prev = 'a';
            continue;
        } else {
            prev = c;
        }
        i += 1;
    }
    out
}

/// The Rust expression of a field's default value.
pub(crate) fn default_expr(f: &Field) -> String {
    let zero = match &f.ty {
        Ty::Bool => "false".to_string(),
        Ty::Float64 => "0.0".into(),
        Ty::Uuid => "Uuid::ZERO".into(),
        Ty::Str => "StrBytes::default()".into(),
        Ty::Bytes | Ty::Records => "Bytes::new()".into(),
        Ty::Array(_) => "Vec::new()".into(),
        Ty::Struct(n) => format!("{n}::default()"),
        _ => "0".into(),
    };
    let value = match &f.default {
        DefaultValue::Null => return "None".into(),
        DefaultValue::Zero => zero,
        DefaultValue::Int(v) => v.to_string(),
        DefaultValue::Bool(v) => v.to_string(),
        DefaultValue::Float(v) => format!("{v:?}"),
        DefaultValue::Str(s) => format!("StrBytes::from_static({})", lit(s)),
    };
    if f.optional {
        format!("Some({value})")
    } else {
        value
    }
}

/// A Rust expression true when `self.<field>` differs from its default.
pub(crate) fn non_default(f: &Field) -> String {
    let v = format!("self.{}", f.ident);
    match (&f.default, f.optional) {
        (DefaultValue::Null, _) => format!("{v}.is_some()"),
        (DefaultValue::Zero, false) => match &f.ty {
            Ty::Bool => v,
            Ty::Float64 => format!("{v} != 0.0"),
            Ty::Uuid => format!("!{v}.is_zero()"),
            Ty::Str | Ty::Bytes | Ty::Records | Ty::Array(_) => format!("!{v}.is_empty()"),
            Ty::Struct(n) => format!("{v} != {n}::default()"),
            _ => format!("{v} != 0"),
        },
        (DefaultValue::Zero, true) => match &f.ty {
            Ty::Struct(n) => format!("{v}.as_ref().is_none_or(|v| *v != {n}::default())"),
            _ => format!("{v}.as_ref().is_none_or(|v| !v.is_empty())"),
        },
        (DefaultValue::Bool(true), _) => format!("!{v}"),
        (DefaultValue::Bool(false), _) => v,
        (DefaultValue::Str(s), true) => format!("{v}.as_deref() != Some({})", lit(s)),
        (DefaultValue::Str(s), false) => format!("{v} != {}", lit(s)),
        (_, _) => format!("{v} != {}", default_expr(f)),
    }
}

/// A write of one field: an expression and whether it returns `Result`.
pub(crate) struct Put {
    code: String,
    fallible: bool,
}

impl Put {
    /// As a statement in `encode`.
    pub(crate) fn stmt(&self) -> String {
        if self.fallible {
            format!("{}?;", self.code)
        } else {
            format!("{};", self.code)
        }
    }

    /// As the body of a tagged-field closure.
    pub(crate) fn closure(&self) -> String {
        if self.fallible {
            self.code.clone()
        } else {
            format!("{{ {}; Ok(()) }}", self.code)
        }
    }
}

/// The write of `self.<field>` with the given compact and nullable expressions.
pub(crate) fn put_stmt(f: &Field, c: &str, n: &str) -> Result<Put, String> {
    let v = format!("self.{}", f.ident);
    let p = lit(&f.path);
    let fixed = |m: &str| Put {
        code: format!("w.{m}({v})"),
        fallible: false,
    };
    let call = |code: String| Put {
        code,
        fallible: true,
    };
    Ok(match (&f.ty, f.optional) {
        (Ty::Bool, _) => fixed("bool"),
        (Ty::Int8, _) => fixed("i8"),
        (Ty::Int16, _) => fixed("i16"),
        (Ty::Uint16, _) => fixed("u16"),
        (Ty::Int32, _) => fixed("i32"),
        (Ty::Uint32, _) => fixed("u32"),
        (Ty::Int64, _) => fixed("i64"),
        (Ty::Float64, _) => fixed("f64"),
        (Ty::Uuid, _) => Put {
            code: format!("w.uuid(&{v})"),
            fallible: false,
        },
        (Ty::Str, false) => call(format!("put_str(w, &{v}, {c}, {p})")),
        (Ty::Str, true) => call(format!("put_opt_str(w, {v}.as_deref(), {c}, {n}, {p})")),
        (Ty::Bytes | Ty::Records, false) => call(format!("put_bytes(w, &{v}, {c}, {p})")),
        (Ty::Bytes | Ty::Records, true) => {
            call(format!("put_opt_bytes(w, {v}.as_deref(), {c}, {n}, {p})"))
        }
        (Ty::Struct(_), false) => call(format!("{v}.encode(w, version)")),
        (Ty::Struct(_), true) => call(format!(
            "put_opt_struct(w, {v}.as_ref(), version, {n}, {p})"
        )),
        (Ty::Array(e), opt) => {
            let is_struct = matches!(**e, Ty::Struct(_));
            match (is_struct, opt) {
                (true, false) => call(format!("put_structs(w, &{v}, version, {c}, {p})")),
                (true, true) => call(format!(
                    "put_opt_structs(w, {v}.as_deref(), version, {c}, {n}, {p})"
                )),
                (false, false) => call(format!("put_prims(w, &{v}, {c}, {p})")),
                (false, true) => call(format!("put_opt_prims(w, {v}.as_deref(), {c}, {n}, {p})")),
            }
        }
    })
}

/// The read of one field with the given compact and nullable expressions.
pub(crate) fn get_expr(f: &Field, c: &str, n: &str) -> Result<String, String> {
    let p = lit(&f.path);
    Ok(match (&f.ty, f.optional) {
        (Ty::Bool, _) => format!("r.bool({p})?"),
        (Ty::Int8, _) => format!("r.i8({p})?"),
        (Ty::Int16, _) => format!("r.i16({p})?"),
        (Ty::Uint16, _) => format!("r.u16({p})?"),
        (Ty::Int32, _) => format!("r.i32({p})?"),
        (Ty::Uint32, _) => format!("r.u32({p})?"),
        (Ty::Int64, _) => format!("r.i64({p})?"),
        (Ty::Float64, _) => format!("r.f64({p})?"),
        (Ty::Uuid, _) => format!("r.uuid({p})?"),
        (Ty::Str, false) => format!("get_str(r, {c}, {p})?"),
        (Ty::Str, true) => format!("get_opt_str(r, {c}, {n}, {p})?"),
        (Ty::Bytes | Ty::Records, false) => format!("get_bytes(r, {c}, {p})?"),
        (Ty::Bytes | Ty::Records, true) => format!("get_opt_bytes(r, {c}, {n}, {p})?"),
        (Ty::Struct(name), false) => format!("{name}::decode(r, version)?"),
        (Ty::Struct(_), true) => format!("get_opt_struct(r, version, {n}, {p})?"),
        (Ty::Array(e), opt) => match (matches!(**e, Ty::Struct(_)), opt) {
            (true, false) => format!("get_structs(r, version, {c}, {p})?"),
            (true, true) => format!("get_opt_structs(r, version, {c}, {n}, {p})?"),
            (false, false) => format!("get_prims(r, {c}, {p})?"),
            (false, true) => format!("get_opt_prims(r, {c}, {n}, {p})?"),
        },
    })
}

/// A test-only random value for a field; `n` says whether null is allowed.
pub(crate) fn sample_expr(f: &Field, n: &str) -> String {
    fn value(ty: &Ty) -> String {
        match ty {
            Ty::Bool => "g.bool()".into(),
            Ty::Int8 => "g.i8()".into(),
            Ty::Int16 => "g.i16()".into(),
            Ty::Uint16 => "g.u16()".into(),
            Ty::Int32 => "g.i32()".into(),
            Ty::Uint32 => "g.u32()".into(),
            Ty::Int64 => "g.i64()".into(),
            Ty::Float64 => "g.f64()".into(),
            Ty::Uuid => "g.uuid()".into(),
            Ty::Str => "g.str()".into(),
            Ty::Bytes | Ty::Records => "g.bytes()".into(),
            Ty::Struct(name) => format!("{name}::sample(g, version)"),
            Ty::Array(e) => format!("g.vec(|g| {})", value(e)),
        }
    }
    let v = value(&f.ty);
    if f.optional {
        format!("g.opt({n}, |g| {v})")
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(lo: i16, hi: i16) -> Versions {
        Versions { lo, hi }
    }

    #[test]
    fn conditions() {
        assert_eq!(cond(v(0, i16::MAX), v(0, 12)), "true");
        assert_eq!(cond(v(3, i16::MAX), v(0, 12)), "version >= 3");
        assert_eq!(cond(v(0, 4), v(0, 12)), "version <= 4");
        assert_eq!(cond(v(2, 4), v(0, 12)), "(2..=4).contains(&version)");
        assert_eq!(cond(v(13, i16::MAX), v(0, 12)), "false");
        assert_eq!(absent(v(3, i16::MAX), v(0, 12)), "version < 3");
        assert_eq!(absent(v(2, 4), v(0, 12)), "(version < 2 || version > 4)");
    }

    #[test]
    fn ident_scan() {
        let ids = idents("w.i32(self.version); // Bytes\nput_str(w, \"version\", version)");
        assert!(ids.contains("version"));
        assert!(ids.contains("put_str"));
        assert!(!ids.contains("Bytes"));
        assert!(!idents("self.version \"version\"").contains("version"));
        assert!(!idents("Self { version: r.i16(\"v\")? }").contains("version"));
        assert!(idents("Self { a: version }").contains("version"));
        assert!(idents("x: Foo::bar").contains("Foo"));
    }
}
