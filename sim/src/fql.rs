//! FQL (Falcon Query Language): a parser and an evaluator over JSON objects.
//!
//! Grammar (reference §3): `property:[op]value` terms joined by `+` (AND) and `,` (OR), grouped
//! with parentheses. Operators: none (equals), `!`, `>`, `>=`, `<`, `<=`, `~` (case-insensitive
//! text match ignoring spaces and punctuation), `!~`, and `*` before a quoted value (wildcard).
//! Values: `'quoted'` (with `*` wildcards), numbers, `true`/`false`, `null`, bare words, and
//! `['a','b']` sets (any-of, exact and case-sensitive). Plain string equality is
//! case-insensitive. Dotted properties walk objects; arrays match if any element matches.
//! Timestamps compare as instants and accept `now-24h` style relative values.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::timeutil;

/// Why a filter was refused; rendered as the 400 message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum FqlError {
    /// The text is not valid FQL.
    #[error(
        "Invalid filter at position {pos}: {reason} (FQL uses + for AND, , for OR, and values must be quoted)"
    )]
    Syntax {
        /// Zero-based character offset of the problem.
        pos: usize,
        /// What was expected.
        reason: String,
    },
    /// A property the endpoint does not know.
    #[error("Invalid filter: '{field}' is not a valid filter field for this endpoint")]
    UnknownField {
        /// The property as written.
        field: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(String, bool),
    Num(f64),
    Bool(bool),
    Null,
    Set(Vec<Val>),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp { field: String, op: Op, val: Val },
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

fn syntax(pos: usize, reason: impl Into<String>) -> FqlError {
    FqlError::Syntax {
        pos,
        reason: reason.into(),
    }
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.pos < self.src.len() && self.src[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            None => "end of filter".to_string(),
            Some(_) => {
                let rest = String::from_utf8_lossy(&self.src[self.pos..]);
                let tok: String = rest.chars().take(12).collect();
                format!("'{tok}'")
            }
        }
    }

    fn or_expr(&mut self) -> Result<Expr, FqlError> {
        let mut parts = vec![self.and_expr()?];
        loop {
            self.ws();
            if self.peek() == Some(b',') {
                self.pos += 1;
                parts.push(self.and_expr()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, FqlError> {
        let mut parts = vec![self.unary()?];
        loop {
            self.ws();
            match self.peek() {
                Some(b'+') => {
                    self.pos += 1;
                    parts.push(self.unary()?);
                }
                Some(c) if c.is_ascii_alphanumeric() || c == b'(' => {
                    return Err(syntax(
                        self.pos,
                        format!(
                            "expected '+' or ',' between terms but found {} (a '+' sent unencoded in a URL arrives as a space; encode it as %2B)",
                            self.describe_here()
                        ),
                    ));
                }
                _ => break,
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, FqlError> {
        self.ws();
        if self.peek() == Some(b'(') {
            let open = self.pos;
            self.pos += 1;
            let e = self.or_expr()?;
            self.ws();
            if self.peek() != Some(b')') {
                return Err(syntax(
                    self.pos,
                    format!(
                        "expected ')' to close '(' at position {open} but found {}",
                        self.describe_here()
                    ),
                ));
            }
            self.pos += 1;
            return Ok(e);
        }
        self.term()
    }

    fn term(&mut self) -> Result<Expr, FqlError> {
        self.ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@' | b'#') {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start {
            return Err(syntax(
                start,
                format!(
                    "expected a property name but found {}",
                    self.describe_here()
                ),
            ));
        }
        let field = String::from_utf8_lossy(&self.src[start..self.pos]).to_string();
        self.ws();
        if self.peek() != Some(b':') {
            return Err(syntax(
                self.pos,
                format!(
                    "expected ':' after property '{field}' but found {}",
                    self.describe_here()
                ),
            ));
        }
        self.pos += 1;
        self.ws();
        let op = self.op();
        self.ws();
        // PSFalcon documents `name:*'*value*'`: a `*` before the quote marks a wildcard match.
        let mut star = false;
        if self.peek() == Some(b'*') && matches!(self.src.get(self.pos + 1), Some(b'\'' | b'"')) {
            star = true;
            self.pos += 1;
        }
        let mut val = self.value()?;
        if star && let Val::Str(_, w) = &mut val {
            *w = true;
        }
        Ok(Expr::Cmp { field, op, val })
    }

    fn op(&mut self) -> Op {
        let rest = &self.src[self.pos..];
        let (op, n) = if rest.starts_with(b"!~") {
            (Op::NotMatch, 2)
        } else if rest.starts_with(b">=") {
            (Op::Ge, 2)
        } else if rest.starts_with(b"<=") {
            (Op::Le, 2)
        } else if rest.starts_with(b"!") {
            (Op::Ne, 1)
        } else if rest.starts_with(b">") {
            (Op::Gt, 1)
        } else if rest.starts_with(b"<") {
            (Op::Lt, 1)
        } else if rest.starts_with(b"~") {
            (Op::Match, 1)
        } else {
            (Op::Eq, 0)
        };
        self.pos += n;
        op
    }

    fn value(&mut self) -> Result<Val, FqlError> {
        self.ws();
        match self.peek() {
            None => Err(syntax(self.pos, "expected a value but found end of filter")),
            Some(b'[') => {
                let open = self.pos;
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b']') && items.is_empty() {
                        self.pos += 1;
                        break;
                    }
                    let v = self.value()?;
                    if matches!(v, Val::Set(_)) {
                        return Err(syntax(self.pos, "sets cannot be nested"));
                    }
                    items.push(v);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        _ => {
                            return Err(syntax(
                                self.pos,
                                format!(
                                    "expected ',' or ']' in the set opened at position {open} but found {}",
                                    self.describe_here()
                                ),
                            ));
                        }
                    }
                }
                Ok(Val::Set(items))
            }
            Some(q @ (b'\'' | b'"')) => {
                let open = self.pos;
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek() {
                        None => {
                            return Err(syntax(
                                open,
                                "unterminated quoted value (missing closing quote)",
                            ));
                        }
                        Some(b'\\') if self.src.get(self.pos + 1).is_some() => {
                            out.push(self.src[self.pos + 1]);
                            self.pos += 2;
                        }
                        Some(c) if c == q => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
                let s = String::from_utf8_lossy(&out).to_string();
                let wild = s.contains('*');
                Ok(Val::Str(s, wild))
            }
            Some(_) => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if matches!(c, b'+' | b',' | b')' | b']' | b'(' | b'[' | b'\'' | b'"')
                        || c.is_ascii_whitespace()
                    {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(syntax(
                        start,
                        format!("expected a value but found {}", self.describe_here()),
                    ));
                }
                let word = String::from_utf8_lossy(&self.src[start..self.pos]).to_string();
                // Falcon refuses a second operator (`severity:>>60`, `name:!~x`) rather than
                // treating it as part of the value.
                if let Some(c) = word
                    .chars()
                    .next()
                    .filter(|c| matches!(c, '>' | '<' | '!' | '~' | '=' | ':'))
                {
                    return Err(syntax(
                        start,
                        format!(
                            "unexpected '{c}': a comparison takes one operator (e.g. severity:>=60)"
                        ),
                    ));
                }
                Ok(match word.as_str() {
                    "true" => Val::Bool(true),
                    "false" => Val::Bool(false),
                    "null" => Val::Null,
                    w => match w.parse::<f64>() {
                        Ok(n) if !w.starts_with('+') => Val::Num(n),
                        _ => Val::Str(w.to_string(), w.contains('*')),
                    },
                })
            }
        }
    }
}

/// Parses a filter. An empty or blank filter is `None` (matches everything).
pub(crate) fn parse(src: &str) -> Result<Option<Expr>, FqlError> {
    if src.trim().is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        src: src.as_bytes(),
        pos: 0,
    };
    let e = p.or_expr()?;
    p.ws();
    if p.pos < p.src.len() {
        return Err(syntax(
            p.pos,
            format!(
                "unexpected {} after a complete expression",
                p.describe_here()
            ),
        ));
    }
    Ok(Some(e))
}

/// Parses a filter and checks every property against `known` (dotted paths).
pub(crate) fn parse_checked(src: &str, known: &BTreeSet<String>) -> Result<Option<Expr>, FqlError> {
    let e = parse(src)?;
    if let Some(e) = &e {
        check_fields(e, known)?;
    }
    Ok(e)
}

fn check_fields(e: &Expr, known: &BTreeSet<String>) -> Result<(), FqlError> {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|x| check_fields(x, known)),
        Expr::Cmp { field, .. } => {
            if known.contains(field) {
                Ok(())
            } else {
                Err(FqlError::UnknownField {
                    field: field.clone(),
                })
            }
        }
    }
}

/// Collects every dotted leaf path of `v` (array elements share their parent's path).
pub(crate) fn collect_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                collect_paths(child, &p, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                collect_paths(child, prefix, out);
            }
        }
        _ => {}
    }
}

/// The leaves at a dotted path; arrays are flattened.
pub(crate) fn resolve<'v>(v: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut cur = vec![v];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for c in cur {
            let items: Vec<&Value> = match c {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for it in items {
                if let Some(x) = it.get(seg) {
                    next.push(x);
                }
            }
        }
        cur = next;
    }
    let mut leaves = Vec::new();
    for c in cur {
        match c {
            Value::Array(a) => leaves.extend(a.iter()),
            other => leaves.push(other),
        }
    }
    leaves
}

/// Case-insensitive `*` glob match.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

fn leaf_num(leaf: &Value) -> Option<f64> {
    match leaf {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn leaf_eq(leaf: &Value, val: &Val, exact: bool) -> bool {
    match val {
        Val::Null => leaf.is_null() || leaf.as_str() == Some(""),
        Val::Bool(b) => match leaf {
            Value::Bool(x) => x == b,
            Value::String(s) => s == if *b { "true" } else { "false" },
            _ => false,
        },
        Val::Num(n) => leaf_num(leaf).is_some_and(|x| (x - n).abs() < 1e-9),
        Val::Str(s, wild) => match leaf {
            Value::String(t) => {
                if *wild {
                    glob(s, t)
                } else if exact {
                    s == t
                } else {
                    s.eq_ignore_ascii_case(t)
                }
            }
            Value::Number(_) => s.parse::<f64>().ok() == leaf_num(leaf),
            Value::Bool(b) => s == if *b { "true" } else { "false" },
            _ => false,
        },
        Val::Set(items) => items.iter().any(|i| leaf_eq(leaf, i, true)),
    }
}

fn leaf_cmp(leaf: &Value, val: &Val, now: i64) -> Option<std::cmp::Ordering> {
    match val {
        Val::Num(n) => leaf_num(leaf).and_then(|x| x.partial_cmp(n)),
        Val::Str(s, _) => {
            let t = leaf.as_str()?;
            if let (Some(a), Some(b)) = (
                timeutil::parse_timestamp(t),
                timeutil::parse_fql_time(s, now),
            ) {
                return Some(a.cmp(&b));
            }
            if let (Some(a), Ok(b)) = (leaf_num(leaf), s.parse::<f64>()) {
                return a.partial_cmp(&b);
            }
            Some(t.cmp(s.as_str()))
        }
        _ => None,
    }
}

fn leaf_match(leaf: &Value, val: &Val) -> bool {
    let text = match leaf {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    match val {
        Val::Set(items) => items.iter().any(|i| leaf_match(leaf, i)),
        Val::Str(s, true) => glob(s, &text),
        Val::Str(s, false) => normalize(&text).contains(&normalize(s)),
        Val::Num(n) => normalize(&text).contains(&normalize(&n.to_string())),
        Val::Bool(b) => text == b.to_string(),
        Val::Null => text.is_empty(),
    }
}

/// Whether `obj` satisfies `expr`; `now` anchors relative times.
pub(crate) fn eval(expr: &Expr, obj: &Value, now: i64) -> bool {
    match expr {
        Expr::And(v) => v.iter().all(|e| eval(e, obj, now)),
        Expr::Or(v) => v.iter().any(|e| eval(e, obj, now)),
        Expr::Cmp { field, op, val } => {
            let mut leaves = resolve(obj, field);
            if leaves.is_empty() {
                leaves.push(&Value::Null);
            }
            let any_eq = || leaves.iter().any(|l| leaf_eq(l, val, false));
            match op {
                Op::Eq => any_eq(),
                Op::Ne => !any_eq(),
                Op::Match => leaves.iter().any(|l| leaf_match(l, val)),
                Op::NotMatch => !leaves.iter().any(|l| leaf_match(l, val)),
                Op::Gt | Op::Ge | Op::Lt | Op::Le => leaves.iter().any(|l| {
                    use std::cmp::Ordering::*;
                    match leaf_cmp(l, val, now) {
                        Some(o) => match op {
                            Op::Gt => o == Greater,
                            Op::Ge => o != Less,
                            Op::Lt => o == Less,
                            _ => o != Greater,
                        },
                        None => false,
                    }
                }),
            }
        }
    }
}

/// One sort key: dotted field and direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortKey {
    /// Dotted field path.
    pub field: String,
    /// Descending?
    pub desc: bool,
}

/// Which spellings of sort direction an endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SortForms {
    /// `field.asc` and `field|asc`.
    Both,
    /// Only `field|asc` (alerts aggregation buckets).
    PipeOnly,
}

/// Parses `field.asc`, `field.desc`, `field|asc`, `field|desc` or a bare `field` (ascending),
/// comma-separated for several keys; fields must be in `known`.
pub(crate) fn parse_sort(
    src: &str,
    known: &BTreeSet<String>,
    forms: SortForms,
) -> Result<Vec<SortKey>, String> {
    let mut keys = Vec::new();
    for part in src.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (field, desc) = if let Some((f, d)) = part.split_once('|') {
            match d.trim() {
                "asc" => (f.trim(), false),
                "desc" => (f.trim(), true),
                other => {
                    return Err(format!(
                        "Invalid sort direction '{other}' in '{part}'; use asc or desc"
                    ));
                }
            }
        } else if let Some(f) = part.strip_suffix(".asc") {
            if forms == SortForms::PipeOnly {
                return Err(format!("Invalid sort '{part}': use the form field|asc"));
            }
            (f, false)
        } else if let Some(f) = part.strip_suffix(".desc") {
            if forms == SortForms::PipeOnly {
                return Err(format!("Invalid sort '{part}': use the form field|desc"));
            }
            (f, true)
        } else {
            (part, false)
        };
        if !known.contains(field) {
            return Err(format!("Invalid sort field '{field}' in sort '{src}'"));
        }
        keys.push(SortKey {
            field: field.to_string(),
            desc,
        });
    }
    Ok(keys)
}

fn sort_value_cmp(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    fn norm(v: Option<&Value>) -> Option<&Value> {
        v.filter(|x| !x.is_null())
    }
    match (norm(a), norm(b)) {
        (None, None) => Equal,
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
        (Some(x), Some(y)) => match (x, y) {
            (Value::Number(p), Value::Number(q)) => p
                .as_f64()
                .unwrap_or(0.0)
                .partial_cmp(&q.as_f64().unwrap_or(0.0))
                .unwrap_or(Equal),
            (Value::String(p), Value::String(q)) => p.to_lowercase().cmp(&q.to_lowercase()),
            (Value::Bool(p), Value::Bool(q)) => p.cmp(q),
            _ => x.to_string().cmp(&y.to_string()),
        },
    }
}

/// Orders two objects by `keys` (missing values last, ties keep input order when used with a stable sort).
pub(crate) fn compare(a: &Value, b: &Value, keys: &[SortKey]) -> std::cmp::Ordering {
    for k in keys {
        let va = resolve(a, &k.field).first().copied();
        let vb = resolve(b, &k.field).first().copied();
        let mut o = sort_value_cmp(va, vb);
        if k.desc && va.is_some_and(|v| !v.is_null()) && vb.is_some_and(|v| !v.is_null()) {
            o = o.reverse();
        }
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> BTreeSet<String> {
        let mut k = BTreeSet::new();
        collect_paths(&host(), "", &mut k);
        k
    }

    fn host() -> Value {
        json!({"hostname": "WS-FIN-042", "platform_name": "Windows", "status": "normal",
               "severity": 85, "tags": ["FalconGroupingTags/Finance", "x"],
               "last_seen": "2025-06-13T03:00:17Z", "hidden": false, "assigned_to_uid": "",
               "device": {"hostname": "WS-FIN-042", "local_ip": "10.3.0.4"},
               "os_version": "Windows 11 Pro"})
    }

    fn m(f: &str) -> bool {
        let e = parse_checked(f, &known()).unwrap().unwrap();
        eval(
            &e,
            &host(),
            timeutil::parse_timestamp("2025-06-13T04:00:00Z").unwrap(),
        )
    }

    #[test]
    fn equality_and_case() {
        assert!(m("hostname:'WS-FIN-042'"));
        assert!(m("hostname:'ws-fin-042'"));
        assert!(!m("hostname:['ws-fin-042']"), "sets are exact");
        assert!(m("hostname:['WS-FIN-042','other']"));
        assert!(m("platform_name:Windows"));
        assert!(m("hostname:!'other'"));
        assert!(!m("hostname:!'WS-FIN-042'"));
    }

    #[test]
    fn wildcards_and_text_match() {
        assert!(m("hostname:'WS-*'"));
        assert!(m("hostname:'*-042'"));
        assert!(m("hostname:*'*fin*'"));
        assert!(!m("hostname:'SRV-*'"));
        assert!(m("os_version:~'windows 11'"));
        assert!(m("os_version:~'WINDOWS11'"));
        assert!(!m("os_version:!~'windows'"));
    }

    #[test]
    fn numbers_booleans_null_ranges() {
        assert!(m("severity:>=60"));
        assert!(m("severity:85"));
        assert!(!m("severity:>85"));
        assert!(m("severity:<=85+severity:>1"));
        assert!(m("hidden:false"));
        assert!(m("assigned_to_uid:null"));
        assert!(m("last_seen:>'2025-06-13T00:00:00Z'"));
        assert!(m("last_seen:>'now-24h'"));
        assert!(!m("last_seen:<'now-24h'"));
        assert!(m("last_seen:>='2025-06-13'"));
    }

    #[test]
    fn composition_paths_arrays() {
        assert!(m("status:'normal'+(severity:>90,platform_name:'Windows')"));
        assert!(!m(
            "status:'contained'+(severity:>90,platform_name:'Windows')"
        ));
        assert!(m("device.hostname:'WS-FIN-042'"));
        assert!(m("device.local_ip:'10.3.*'"));
        assert!(m("tags:'x'"));
        assert!(m("tags:'FalconGroupingTags/Finance'"));
        assert!(m(" hostname : 'WS-FIN-042' , status:'x' "));
    }

    #[test]
    fn a_second_operator_is_a_syntax_error() {
        for bad in ["severity:>>60", "severity:>=<60", "hostname:!!'x'", "a:~~b"] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(parse("severity:>=60").is_ok());
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let err = parse("hostname:'abc").unwrap_err();
        assert_eq!(
            err,
            FqlError::Syntax {
                pos: 9,
                reason: "unterminated quoted value (missing closing quote)".into()
            }
        );
        let err = parse("hostname 'abc'").unwrap_err().to_string();
        assert!(
            err.contains("expected ':' after property 'hostname'"),
            "{err}"
        );
        let err = parse("a:'1' b:'2'").unwrap_err().to_string();
        assert!(err.contains("position 6") && err.contains("%2B"), "{err}");
        let err = parse("(a:'1'").unwrap_err().to_string();
        assert!(err.contains("expected ')'"), "{err}");
        assert!(parse("a:").is_err());
        assert!(parse("a:['x'").is_err());
        assert!(parse("a:'1')").is_err());
        assert_eq!(parse("  ").unwrap(), None);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = parse_checked("nosuch:'x'", &known()).unwrap_err();
        assert!(matches!(e, FqlError::UnknownField { .. }));
        assert!(e.to_string().contains("'nosuch'"));
    }

    #[test]
    fn sorts_in_both_forms() {
        let k = known();
        assert_eq!(
            parse_sort("hostname.desc", &k, SortForms::Both).unwrap()[0],
            SortKey {
                field: "hostname".into(),
                desc: true
            }
        );
        assert_eq!(
            parse_sort("device.hostname|asc", &k, SortForms::Both).unwrap()[0],
            SortKey {
                field: "device.hostname".into(),
                desc: false
            }
        );
        assert!(!parse_sort("severity", &k, SortForms::Both).unwrap()[0].desc);
        assert!(parse_sort("nosuch.asc", &k, SortForms::Both).is_err());
        assert!(parse_sort("severity|sideways", &k, SortForms::Both).is_err());
        assert!(parse_sort("severity.desc", &k, SortForms::PipeOnly).is_err());
        let a = json!({"s": 1});
        let b = json!({"s": 2});
        let n = json!({});
        let keys = vec![SortKey {
            field: "s".into(),
            desc: true,
        }];
        assert_eq!(compare(&a, &b, &keys), std::cmp::Ordering::Greater);
        assert_eq!(
            compare(&n, &a, &keys),
            std::cmp::Ordering::Greater,
            "missing sorts last"
        );
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYc"));
        assert!(!glob("a*b", "ac"));
    }
}
