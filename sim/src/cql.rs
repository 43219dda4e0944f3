//! A CrowdStrike Query Language (LogScale) subset over the generated NG-SIEM events.
//!
//! Filters: `field=value` (exact, case-sensitive), `*` wildcards, `/regex/flags`, `field=*`
//! (field exists), `!=`, `<`/`<=`/`>`/`>=` on numbers, bare or quoted free-text terms
//! (case-insensitive substring of any field), `in(field=X, values=[...])`, `and` (or juxtaposition),
//! `or`, `not`/`!`, parentheses. As in LogScale, `or` binds tighter than `and`
//! (`a b or c` means `a and (b or c)`). Pipeline stages: filters, `head(N)`, `tail(N)`, `count()`,
//! `groupBy(f)`/`groupBy([f1,f2])` (rows with `_count`), `top(f)`, `select([..])`/`table([..])`,
//! `sort(field, order=asc|desc, limit=N)`. Errors carry a 1-based column.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value, json};

/// A query the parser refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Syntax error at line 1, column {column}: {message}")]
pub(crate) struct CqlError {
    /// 1-based column.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Regex(String, String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Pipe,
}

fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>, CqlError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |i: usize, m: &str| CqlError {
        column: i + 1,
        message: m.to_string(),
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '[' => {
                i += 1;
                Tok::LBracket
            }
            ']' => {
                i += 1;
                Tok::RBracket
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '|' => {
                i += 1;
                Tok::Pipe
            }
            '=' => {
                i += 1;
                Tok::Op("=")
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Op("!=")
            }
            '!' => {
                i += 1;
                Tok::Word("not".into())
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                i += if eq { 2 } else { 1 };
                Tok::Op(match (c, eq) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    (_, true) => ">=",
                    _ => ">",
                })
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated string literal")),
                        Some('\\') if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            '/' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated regular expression")),
                        Some('\\') if chars.get(i + 1) == Some(&'/') => {
                            s.push('/');
                            i += 2;
                        }
                        Some('/') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                let mut flags = String::new();
                while let Some(&f) = chars.get(i).filter(|f| f.is_ascii_alphabetic()) {
                    flags.push(f);
                    i += 1;
                }
                Tok::Regex(s, flags)
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || "()[],|=!<>\"".contains(ch) {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                Tok::Word(s)
            }
        };
        out.push((tok, start));
    }
    Ok(out)
}

/// A value pattern.
#[derive(Debug, Clone)]
enum Pat {
    Exact(String),
    Glob(String),
    Regex(Regex),
    Any,
}

/// A filter expression.
#[derive(Debug, Clone)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cmp(String, &'static str, Pat),
    Text(String),
    In(String, Vec<String>),
}

/// A pipeline stage.
#[derive(Debug, Clone)]
enum Stage {
    Filter(Filter),
    Head(usize),
    Tail(usize),
    Count(Option<String>),
    GroupBy(Vec<String>),
    Top(String, usize),
    Select(Vec<String>),
    Sort(String, bool, usize),
}

/// A parsed query.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
enum Arg {
    Word(String),
    List(Vec<String>),
    Call,
}

struct P {
    toks: Vec<(Tok, usize)>,
    i: usize,
    len: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn col(&self) -> usize {
        self.toks
            .get(self.i)
            .map(|t| t.1 + 1)
            .unwrap_or(self.len + 1)
    }
    fn err(&self, m: impl Into<String>) -> CqlError {
        CqlError {
            column: self.col(),
            message: m.into(),
        }
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.0.clone());
        self.i += 1;
        t
    }
    fn found(&self) -> String {
        match self.peek() {
            None => "end of query".into(),
            Some(Tok::Word(w)) => format!("'{w}'"),
            Some(Tok::Str(s)) => format!("\"{s}\""),
            Some(Tok::Regex(r, _)) => format!("/{r}/"),
            Some(Tok::Op(o)) => format!("'{o}'"),
            Some(Tok::LParen) => "'('".into(),
            Some(Tok::RParen) => "')'".into(),
            Some(Tok::LBracket) => "'['".into(),
            Some(Tok::RBracket) => "']'".into(),
            Some(Tok::Comma) => "','".into(),
            Some(Tok::Pipe) => "'|'".into(),
        }
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn and_expr(&mut self) -> Result<Filter, CqlError> {
        let mut parts = vec![self.or_expr()?];
        loop {
            if self.is_kw("and") {
                self.i += 1;
                parts.push(self.or_expr()?);
            } else if matches!(self.peek(), None | Some(Tok::Pipe) | Some(Tok::RParen)) {
                break;
            } else {
                parts.push(self.or_expr()?);
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn or_expr(&mut self) -> Result<Filter, CqlError> {
        let mut parts = vec![self.unary()?];
        while self.is_kw("or") {
            self.i += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn unary(&mut self) -> Result<Filter, CqlError> {
        if self.is_kw("not") {
            self.i += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn value(&mut self) -> Result<Pat, CqlError> {
        match self.next() {
            Some(Tok::Word(w)) if w == "*" => Ok(Pat::Any),
            Some(Tok::Word(w)) if w.contains('*') => Ok(Pat::Glob(w)),
            Some(Tok::Word(w)) => Ok(Pat::Exact(w)),
            Some(Tok::Str(s)) => Ok(Pat::Exact(s)),
            Some(Tok::Regex(r, flags)) => {
                let src = if flags.contains('i') {
                    format!("(?i){r}")
                } else {
                    r
                };
                Regex::new(&src).map(Pat::Regex).map_err(|e| {
                    self.i -= 1;
                    self.err(format!("invalid regular expression: {e}"))
                })
            }
            _ => {
                self.i -= 1;
                Err(self.err(format!(
                    "Expected a value after the operator but found {}",
                    self.found()
                )))
            }
        }
    }

    fn primary(&mut self) -> Result<Filter, CqlError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.i += 1;
                let e = self.and_expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err(format!("Expected ')' but found {}", self.found())));
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(Filter::Text(s))
            }
            Some(Tok::Word(w)) => {
                self.i += 1;
                match self.peek() {
                    Some(Tok::Op(op)) => {
                        let op = *op;
                        self.i += 1;
                        let v = self.value()?;
                        if matches!(op, "<" | "<=" | ">" | ">=")
                            && !matches!(&v, Pat::Exact(x) if x.parse::<f64>().is_ok())
                        {
                            return Err(self.err(format!("The operator '{op}' needs a number")));
                        }
                        Ok(Filter::Cmp(w, op, v))
                    }
                    Some(Tok::LParen) if w.eq_ignore_ascii_case("in") => {
                        self.i += 1;
                        let args = self.args()?;
                        let field = named(&args, "field")
                            .or_else(|| positional(&args, 0))
                            .ok_or_else(|| self.err("in() requires field"))?;
                        let values = match args.iter().find(|(k, _)| k.as_deref() == Some("values"))
                        {
                            Some((_, Arg::List(l))) => l.clone(),
                            _ => return Err(self.err("in() requires values=[...]")),
                        };
                        Ok(Filter::In(field, values))
                    }
                    Some(Tok::LParen) => {
                        Err(self.err(format!("Unknown function '{w}' in a filter")))
                    }
                    _ => Ok(Filter::Text(w)),
                }
            }
            _ => Err(self.err(format!(
                "Expected a filter expression but found {}",
                self.found()
            ))),
        }
    }

    /// Arguments up to and including ')'.
    fn args(&mut self) -> Result<Vec<(Option<String>, Arg)>, CqlError> {
        let mut out = Vec::new();
        if self.peek() == Some(&Tok::RParen) {
            self.i += 1;
            return Ok(out);
        }
        loop {
            let mut name = None;
            if let (Some(Tok::Word(w)), Some((Tok::Op("="), _))) =
                (self.peek().cloned(), self.toks.get(self.i + 1))
            {
                name = Some(w);
                self.i += 2;
            }
            let arg = match self.next() {
                Some(Tok::Word(w)) => {
                    if self.peek() == Some(&Tok::LParen) {
                        self.i += 1;
                        self.args()?;
                        Arg::Call
                    } else {
                        Arg::Word(w)
                    }
                }
                Some(Tok::Str(s)) => Arg::Word(s),
                Some(Tok::LBracket) => {
                    let mut items = Vec::new();
                    loop {
                        match self.next() {
                            Some(Tok::Word(w)) | Some(Tok::Str(w)) => items.push(w),
                            Some(Tok::RBracket) if items.is_empty() => break,
                            _ => {
                                self.i -= 1;
                                return Err(self.err(format!(
                                    "Expected a list element but found {}",
                                    self.found()
                                )));
                            }
                        }
                        match self.next() {
                            Some(Tok::Comma) => {}
                            Some(Tok::RBracket) => break,
                            _ => {
                                self.i -= 1;
                                return Err(self.err(format!(
                                    "Expected ',' or ']' but found {}",
                                    self.found()
                                )));
                            }
                        }
                    }
                    Arg::List(items)
                }
                _ => {
                    self.i -= 1;
                    return Err(
                        self.err(format!("Expected an argument but found {}", self.found()))
                    );
                }
            };
            out.push((name, arg));
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::RParen) => return Ok(out),
                _ => {
                    self.i -= 1;
                    return Err(self.err(format!("Expected ',' or ')' but found {}", self.found())));
                }
            }
        }
    }

    fn stage(&mut self) -> Result<Stage, CqlError> {
        if let (Some(Tok::Word(w)), Some((Tok::LParen, _))) =
            (self.peek().cloned(), self.toks.get(self.i + 1))
            && !w.eq_ignore_ascii_case("in")
        {
            let col = self.col();
            self.i += 2;
            let args = self.args()?;
            let bad = |m: String| CqlError {
                column: col,
                message: m,
            };
            let num = |k: &str, d: usize| -> Result<usize, CqlError> {
                match named(&args, k).or_else(|| {
                    if k == "limit" && (w == "head" || w == "tail") {
                        positional(&args, 0)
                    } else {
                        None
                    }
                }) {
                    None => Ok(d),
                    Some(s) => s
                        .parse()
                        .map_err(|_| bad(format!("{w}(): '{s}' is not a number"))),
                }
            };
            let fields = |args: &[(Option<String>, Arg)]| -> Vec<String> {
                match args.iter().find(|(k, _)| {
                    k.is_none() || k.as_deref() == Some("field") || k.as_deref() == Some("fields")
                }) {
                    Some((_, Arg::List(l))) => l.clone(),
                    Some((_, Arg::Word(s))) => vec![s.clone()],
                    _ => Vec::new(),
                }
            };
            return match w.as_str() {
                "head" => Ok(Stage::Head(num("limit", 200)?)),
                "tail" => Ok(Stage::Tail(num("limit", 200)?)),
                "count" => Ok(Stage::Count(fields(&args).into_iter().next())),
                "groupBy" | "groupby" => {
                    let f = fields(&args);
                    if f.is_empty() {
                        return Err(bad("groupBy() requires a field or a list of fields".into()));
                    }
                    Ok(Stage::GroupBy(f))
                }
                "top" => {
                    let f = fields(&args);
                    let field = f
                        .into_iter()
                        .next()
                        .ok_or_else(|| bad("top() requires a field".into()))?;
                    Ok(Stage::Top(field, num("limit", 10)?))
                }
                "select" | "table" => {
                    let f = fields(&args);
                    if f.is_empty() {
                        return Err(bad(format!("{w}() requires a list of fields")));
                    }
                    Ok(Stage::Select(f))
                }
                "sort" => {
                    let field = named(&args, "field")
                        .or_else(|| positional(&args, 0))
                        .unwrap_or_else(|| "@timestamp".into());
                    let order = named(&args, "order").unwrap_or_else(|| "desc".into());
                    let desc = match order.as_str() {
                        "desc" | "descending" => true,
                        "asc" | "ascending" => false,
                        o => {
                            return Err(bad(format!(
                                "sort(): order must be asc or desc, not '{o}'"
                            )));
                        }
                    };
                    Ok(Stage::Sort(field, desc, num("limit", 200)?))
                }
                other => Err(bad(format!("Unknown function: {other}()"))),
            };
        }
        Ok(Stage::Filter(self.and_expr()?))
    }
}

fn named(args: &[(Option<String>, Arg)], k: &str) -> Option<String> {
    args.iter().find_map(|(n, a)| match (n.as_deref(), a) {
        (Some(n), Arg::Word(w)) if n == k => Some(w.clone()),
        _ => None,
    })
}

fn positional(args: &[(Option<String>, Arg)], i: usize) -> Option<String> {
    args.iter()
        .filter(|(n, _)| n.is_none())
        .nth(i)
        .and_then(|(_, a)| match a {
            Arg::Word(w) => Some(w.clone()),
            _ => None,
        })
}

/// Parses a query string.
pub(crate) fn parse(src: &str) -> Result<Query, CqlError> {
    let toks = tokenize(src)?;
    let mut p = P {
        toks,
        i: 0,
        len: src.chars().count(),
    };
    let mut stages = Vec::new();
    let mut first = true;
    loop {
        if p.peek().is_none() {
            if !first || !stages.is_empty() {
                return Err(p.err("Expected a query stage after '|'"));
            }
            break;
        }
        if first && p.peek() == Some(&Tok::Pipe) {
            return Err(p.err("Expected a filter before '|'"));
        }
        stages.push(p.stage()?);
        first = false;
        match p.next() {
            None => break,
            Some(Tok::Pipe) => {
                if p.peek().is_none() {
                    return Err(p.err("Expected a query stage after '|'"));
                }
            }
            Some(_) => {
                p.i -= 1;
                return Err(p.err(format!("Unexpected {}", p.found())));
            }
        }
    }
    Ok(Query { stages })
}

fn field_str(e: &Map<String, Value>, f: &str) -> Option<String> {
    match e.get(f)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn glob_cs(p: &str, t: &str) -> bool {
    let re = format!("^{}$", regex::escape(p).replace("\\*", ".*"));
    Regex::new(&re).is_ok_and(|r| r.is_match(t))
}

fn pat_match(p: &Pat, v: &str) -> bool {
    match p {
        Pat::Exact(x) => x == v,
        Pat::Glob(g) => glob_cs(g, v),
        Pat::Regex(r) => r.is_match(v),
        Pat::Any => true,
    }
}

fn eval(f: &Filter, e: &Map<String, Value>) -> bool {
    match f {
        Filter::And(v) => v.iter().all(|x| eval(x, e)),
        Filter::Or(v) => v.iter().any(|x| eval(x, e)),
        Filter::Not(x) => !eval(x, e),
        Filter::Text(t) if t == "*" => true,
        Filter::Text(t) => {
            let t = t.to_lowercase();
            e.values().any(|v| match v {
                Value::String(s) => s.to_lowercase().contains(&t),
                Value::Number(n) => n.to_string().contains(&t),
                _ => false,
            })
        }
        Filter::In(field, values) => field_str(e, field).is_some_and(|v| {
            values.iter().any(|x| {
                if x.contains('*') {
                    glob_cs(x, &v)
                } else {
                    *x == v
                }
            })
        }),
        Filter::Cmp(field, op, p) => {
            let v = field_str(e, field);
            match *op {
                "=" => v.is_some_and(|v| pat_match(p, &v)),
                "!=" => !v.is_some_and(|v| pat_match(p, &v)),
                _ => {
                    let (Some(a), Pat::Exact(b)) = (v.and_then(|v| v.parse::<f64>().ok()), p)
                    else {
                        return false;
                    };
                    let Ok(b) = b.parse::<f64>() else {
                        return false;
                    };
                    match *op {
                        "<" => a < b,
                        "<=" => a <= b,
                        ">" => a > b,
                        _ => a >= b,
                    }
                }
            }
        }
    }
}

/// The outcome of running a query.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Result rows.
    pub rows: Vec<Value>,
    /// Whether an aggregate stage ran.
    pub aggregate: bool,
    /// Field order for tables.
    pub field_order: Vec<String>,
    /// Whether the default result cap dropped matching events (LogScale reports it as
    /// `metaData.extraData.hasMoreEvents`).
    pub has_more: bool,
}

/// Default cap on non-aggregate results: LogScale adds `tail(200)` to a query without an
/// aggregate (an explicit `head`/`tail`/`sort(limit=)` replaces it).
pub(crate) const DEFAULT_EVENT_CAP: usize = 200;

/// Runs a query over events (already restricted to the time range, newest first).
pub(crate) fn run(q: &Query, events: &[&Value]) -> Outcome {
    let mut rows: Vec<Map<String, Value>> = events
        .iter()
        .filter_map(|e| e.as_object().cloned())
        .collect();
    let mut aggregate = false;
    let mut order = Vec::new();
    let mut capped = false;
    for st in &q.stages {
        match st {
            Stage::Filter(f) => rows.retain(|e| eval(f, e)),
            Stage::Head(n) => {
                rows.truncate(*n);
                capped = true;
            }
            Stage::Tail(n) => {
                let skip = rows.len().saturating_sub(*n);
                rows.drain(..skip);
                capped = true;
            }
            Stage::Count(field) => {
                let n = match field {
                    Some(f) => rows.iter().filter(|r| r.contains_key(f)).count(),
                    None => rows.len(),
                };
                let mut m = Map::new();
                m.insert("_count".into(), json!(n.to_string()));
                rows = vec![m];
                aggregate = true;
                order = vec!["_count".into()];
            }
            Stage::GroupBy(_) | Stage::Top(..) => {
                let (fields, top) = match st {
                    Stage::GroupBy(f) => (f.clone(), None),
                    Stage::Top(f, n) => (vec![f.clone()], Some(*n)),
                    _ => (Vec::new(), None),
                };
                let mut groups: BTreeMap<Vec<String>, usize> = BTreeMap::new();
                for r in &rows {
                    let key: Option<Vec<String>> = fields.iter().map(|f| field_str(r, f)).collect();
                    if let Some(k) = key {
                        *groups.entry(k).or_default() += 1;
                    }
                }
                let mut g: Vec<(Vec<String>, usize)> = groups.into_iter().collect();
                if let Some(n) = top {
                    g.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    g.truncate(n);
                }
                rows = g
                    .into_iter()
                    .map(|(k, c)| {
                        let mut m = Map::new();
                        for (f, v) in fields.iter().zip(k) {
                            m.insert(f.clone(), json!(v));
                        }
                        m.insert("_count".into(), json!(c.to_string()));
                        m
                    })
                    .collect();
                aggregate = true;
                order = fields.clone();
                order.push("_count".into());
            }
            Stage::Select(fields) => {
                rows = rows
                    .into_iter()
                    .map(|r| {
                        fields
                            .iter()
                            .filter_map(|f| r.get(f).map(|v| (f.clone(), v.clone())))
                            .collect()
                    })
                    .collect();
                order = fields.clone();
            }
            Stage::Sort(field, desc, limit) => {
                rows.sort_by(|a, b| {
                    let (x, y) = (field_str(a, field), field_str(b, field));
                    let o = match (
                        x.as_deref().and_then(|s| s.parse::<f64>().ok()),
                        y.as_deref().and_then(|s| s.parse::<f64>().ok()),
                    ) {
                        (Some(p), Some(q)) => {
                            p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal)
                        }
                        _ => x.cmp(&y),
                    };
                    if *desc { o.reverse() } else { o }
                });
                rows.truncate(*limit);
                capped = true;
            }
        }
    }
    let has_more = !aggregate && !capped && rows.len() > DEFAULT_EVENT_CAP;
    if !aggregate && !capped {
        rows.truncate(DEFAULT_EVENT_CAP);
    }
    Outcome {
        rows: rows.into_iter().map(Value::Object).collect(),
        aggregate,
        field_order: order,
        has_more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Value> {
        vec![
            json!({"@timestamp": 3, "#event_simpleName": "ProcessRollup2", "ComputerName": "WS-1", "UserName": "jdoe", "CommandLine": "powershell -enc AAA", "SHA256HashData": "abc", "RemotePort": "443"}),
            json!({"@timestamp": 2, "#event_simpleName": "DnsRequest", "ComputerName": "WS-1", "DomainName": "evil.example"}),
            json!({"@timestamp": 1, "#event_simpleName": "ProcessRollup2", "ComputerName": "SRV-2", "UserName": "admin", "CommandLine": "cmd.exe /c whoami", "RemotePort": "22"}),
        ]
    }

    fn q(src: &str) -> Outcome {
        let ev = events();
        let refs: Vec<&Value> = ev.iter().collect();
        run(&parse(src).unwrap(), &refs)
    }

    #[test]
    fn filters() {
        assert_eq!(q("#event_simpleName=ProcessRollup2").rows.len(), 2);
        assert_eq!(q("#event_simpleName!=ProcessRollup2").rows.len(), 1);
        assert_eq!(q("ComputerName=WS-*").rows.len(), 2);
        assert_eq!(
            q("ComputerName=ws-*").rows.len(),
            0,
            "wildcards are case-sensitive"
        );
        assert_eq!(q("CommandLine=/POWERSHELL/i").rows.len(), 1);
        assert_eq!(q("CommandLine=/POWERSHELL/").rows.len(), 0);
        assert_eq!(q("whoami").rows.len(), 1);
        assert_eq!(q("\"EVIL.example\"").rows.len(), 1);
        assert_eq!(q("in(field=UserName, values=[jdoe, admin])").rows.len(), 2);
        assert_eq!(
            q("#event_simpleName=ProcessRollup2 UserName=jdoe")
                .rows
                .len(),
            1
        );
        assert_eq!(
            q("#event_simpleName=ProcessRollup2 and UserName=jdoe")
                .rows
                .len(),
            1
        );
        assert_eq!(q("UserName=jdoe or UserName=admin").rows.len(), 2);
        assert_eq!(q("not UserName=jdoe").rows.len(), 2);
        assert_eq!(
            q("#event_simpleName=ProcessRollup2 UserName=jdoe or UserName=admin")
                .rows
                .len(),
            2,
            "or binds tighter than and"
        );
        assert_eq!(q("DomainName=*").rows.len(), 1);
        assert_eq!(q("RemotePort>100").rows.len(), 1);
        assert_eq!(
            q("(UserName=jdoe or DomainName=*) ComputerName=WS-1")
                .rows
                .len(),
            2
        );
    }

    #[test]
    fn pipes() {
        assert_eq!(q("* | head(1)").rows[0]["@timestamp"], 3);
        assert_eq!(q("ComputerName=* | tail(1)").rows[0]["@timestamp"], 1);
        let c = q("#event_simpleName=ProcessRollup2 | count()");
        assert!(c.aggregate);
        assert_eq!(c.rows[0]["_count"], "2");
        let g = q("ComputerName=* | groupBy([ComputerName, #event_simpleName])");
        assert_eq!(g.rows.len(), 3);
        let g = q("ComputerName=* | groupBy(ComputerName) | sort(_count, order=desc, limit=1)");
        assert_eq!(g.rows, vec![json!({"ComputerName": "WS-1", "_count": "2"})]);
        let s = q("UserName=* | select([UserName])");
        assert_eq!(
            s.rows,
            vec![json!({"UserName": "jdoe"}), json!({"UserName": "admin"})]
        );
        let s = q("ComputerName=* | sort(@timestamp, order=asc)");
        assert_eq!(s.rows[0]["@timestamp"], 1);
        assert_eq!(
            q("ComputerName=* | top(ComputerName)").rows[0]["_count"],
            "2"
        );
    }

    #[test]
    fn the_default_cap_is_reported() {
        let ev: Vec<Value> = (0..250)
            .map(|i| json!({"@timestamp": i, "ComputerName": "WS-1"}))
            .collect();
        let refs: Vec<&Value> = ev.iter().collect();
        let run_q = |src: &str| run(&parse(src).unwrap(), &refs);
        let o = run_q("ComputerName=WS-1");
        assert_eq!(o.rows.len(), DEFAULT_EVENT_CAP);
        assert!(o.has_more);
        let o = run_q("ComputerName=WS-1 | tail(1000)");
        assert_eq!(o.rows.len(), 250);
        assert!(!o.has_more, "an explicit tail replaces the default cap");
        assert!(!run_q("ComputerName=WS-1 | count()").has_more);
        assert!(!q("ComputerName=*").has_more, "under the cap");
    }

    #[test]
    fn syntax_errors() {
        let e = parse("ComputerName=").unwrap_err();
        assert_eq!(e.column, 14);
        assert!(
            e.to_string()
                .starts_with("Syntax error at line 1, column 14"),
            "{e}"
        );
        assert!(
            parse("a=1 | nosuch()")
                .unwrap_err()
                .message
                .contains("Unknown function")
        );
        assert!(parse("(a=1").unwrap_err().message.contains("Expected ')'"));
        assert!(parse("a=\"x").is_err());
        assert!(parse("a=1 |").is_err());
        assert!(parse("a=/[/").is_err());
        assert!(parse("a=1 | head(x)").is_err());
    }
}
