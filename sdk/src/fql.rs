//! An FQL (Falcon Query Language) builder that quotes and escapes values, so a value taken from
//! the model — a hostname with a quote in it — can never change the shape of the filter.
//!
//! FQL: `field:'value'` (strings single-quoted), `field:>=60` (numbers bare), `field:['a','b']`
//! (any of), `!` negates, `~` text match, `+` joins with AND, `,` with OR, parentheses group.
//! Inside quotes, `\` and `'` are escaped with a backslash.

/// A literal on the right of an FQL comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// Quoted and escaped.
    Str(String),
    /// Written bare.
    Int(i64),
    /// Written bare (`true`/`false`).
    Bool(bool),
}

impl From<&str> for Lit {
    fn from(s: &str) -> Self {
        Lit::Str(s.to_string())
    }
}
impl From<String> for Lit {
    fn from(s: String) -> Self {
        Lit::Str(s)
    }
}
impl From<&String> for Lit {
    fn from(s: &String) -> Self {
        Lit::Str(s.clone())
    }
}
impl From<bool> for Lit {
    fn from(b: bool) -> Self {
        Lit::Bool(b)
    }
}
macro_rules! int_lit {
    ($($t:ty),*) => {$(
        impl From<$t> for Lit {
            fn from(n: $t) -> Self {
                Lit::Int(i64::from(n))
            }
        }
    )*};
}
int_lit!(i8, i16, i32, i64, u8, u16, u32);

impl Lit {
    fn render(&self) -> String {
        match self {
            Lit::Str(s) => quote(s),
            Lit::Int(n) => n.to_string(),
            Lit::Bool(b) => b.to_string(),
        }
    }
}

/// Quote an FQL string value: wrap in `'…'`, escaping `\` and `'`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// An FQL filter under construction: terms joined with `+` (AND).
///
/// Field names are `&'static str` on purpose: they come from plugin code, never from the model.
/// Free FQL from the model goes in through [`Fql::raw`], which parenthesises it so its `,` (OR)
/// cannot swallow the builder's other terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fql {
    terms: Vec<String>,
}

impl Fql {
    /// An empty filter.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, field: &'static str, op: &str, value: Lit) -> Self {
        debug_assert!(valid_field(field), "bad FQL field name {field}");
        self.terms.push(format!("{field}:{op}{}", value.render()));
        self
    }

    /// `field:'v'` (or bare for numbers/booleans).
    pub fn eq(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, "", v.into())
    }

    /// `field:!'v'`.
    pub fn ne(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, "!", v.into())
    }

    /// `field:>='v'`.
    pub fn gte(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, ">=", v.into())
    }

    /// `field:<='v'`.
    pub fn lte(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, "<=", v.into())
    }

    /// `field:>'v'`.
    pub fn gt(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, ">", v.into())
    }

    /// `field:<'v'`.
    pub fn lt(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, "<", v.into())
    }

    /// `field:~'v'`: case-insensitive text match.
    pub fn matches(self, field: &'static str, v: impl Into<Lit>) -> Self {
        self.push(field, "~", v.into())
    }

    /// `field:['a','b']`: any of; nothing is added for an empty list.
    pub fn any_of<I, V>(mut self, field: &'static str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Lit>,
    {
        debug_assert!(valid_field(field), "bad FQL field name {field}");
        let vals: Vec<String> = values.into_iter().map(|v| v.into().render()).collect();
        if !vals.is_empty() {
            self.terms.push(format!("{field}:[{}]", vals.join(",")));
        }
        self
    }

    /// `(field1:'v',field2:'v')`: the same value in any of several fields (OR).
    pub fn eq_any_field(mut self, fields: &[&'static str], v: impl Into<Lit>) -> Self {
        let v = v.into().render();
        let alts: Vec<String> = fields
            .iter()
            .inspect(|f| debug_assert!(valid_field(f), "bad FQL field name {f}"))
            .map(|f| format!("{f}:{v}"))
            .collect();
        match alts.len() {
            0 => {}
            1 => self.terms.extend(alts),
            _ => self.terms.push(format!("({})", alts.join(","))),
        }
        self
    }

    /// `(a,b,…)`: any of several sub-filters (OR); empty sub-filters are skipped, and a
    /// sub-filter of several terms is parenthesised so its `+` binds first.
    pub fn or(mut self, alternatives: impl IntoIterator<Item = Fql>) -> Self {
        let alts: Vec<String> = alternatives
            .into_iter()
            .filter_map(|f| {
                let many = f.terms.len() > 1;
                f.build().map(|b| if many { format!("({b})") } else { b })
            })
            .collect();
        match alts.len() {
            0 => {}
            1 => self.terms.extend(alts),
            _ => self.terms.push(format!("({})", alts.join(","))),
        }
        self
    }

    /// Add an optional term built by `f` when `v` is `Some`.
    pub fn opt<V>(self, v: Option<V>, f: impl FnOnce(Self, V) -> Self) -> Self {
        match v {
            Some(v) => f(self, v),
            None => self,
        }
    }

    /// Add free FQL from the caller, parenthesised; blank input adds nothing.
    pub fn raw(mut self, fql: Option<&str>) -> Self {
        if let Some(f) = fql.map(str::trim).filter(|f| !f.is_empty()) {
            self.terms.push(format!("({f})"));
        }
        self
    }

    /// True when no term was added.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The filter, or `None` when empty (so the `filter` parameter can be omitted).
    pub fn build(&self) -> Option<String> {
        (!self.terms.is_empty()).then(|| self.terms.join("+"))
    }
}

fn valid_field(f: &str) -> bool {
    !f.is_empty()
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'#')
}

/// Check a free-form FQL string from the model for the mistakes Falcon answers with an opaque
/// 400: words `AND`/`OR`, unbalanced quotes, brackets or parentheses. Returns a message saying
/// what to fix.
pub fn lint(fql: &str) -> Result<(), String> {
    let mut in_quote = false;
    let mut escaped = false;
    let (mut paren, mut bracket) = (0i32, 0i32);
    for c in fql.chars() {
        if in_quote {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => in_quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' => in_quote = true,
            '(' => paren += 1,
            ')' => paren -= 1,
            '[' => bracket += 1,
            ']' => bracket -= 1,
            _ => {}
        }
        if paren < 0 || bracket < 0 {
            return Err("unbalanced `)` or `]` in the filter".into());
        }
    }
    if in_quote {
        return Err("unterminated quote in the filter; escape a literal ' as \\'".into());
    }
    if paren != 0 || bracket != 0 {
        return Err("unbalanced parentheses or brackets in the filter".into());
    }
    let outside_quotes = strip_quoted(fql);
    for word in outside_quotes.split_whitespace() {
        if word == "AND" || word == "OR" {
            return Err(format!(
                "FQL has no `{word}`: use + for AND and , for OR (e.g. status:'new'+severity:>=60)"
            ));
        }
    }
    Ok(())
}

fn strip_quoted(fql: &str) -> String {
    let mut out = String::with_capacity(fql.len());
    let (mut in_quote, mut escaped) = (false, false);
    for c in fql.chars() {
        if in_quote {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => in_quote = false,
                _ => {}
            }
            out.push(' ');
        } else if c == '\'' {
            in_quote = true;
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// A time bound for FQL from a relative span (`30m`, `24h`, `7d`, `2w`) or an RFC 3339 timestamp
/// (`2025-06-13T00:00:00Z`); returns `now-24h` style or the timestamp, to be quoted by the builder.
pub fn since(value: &str) -> Result<String, String> {
    let v = value.trim();
    let bad = || {
        format!(
            "`{value}` is not a time: use a span like 30m, 24h, 7d, 2w or a timestamp like 2025-06-13T00:00:00Z"
        )
    };
    if let Some(unit) = v
        .chars()
        .last()
        .filter(|c| matches!(c, 'm' | 'h' | 'd' | 'w'))
    {
        let n = &v[..v.len() - 1];
        if !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = n.parse().map_err(|_| bad())?;
            // FQL's relative times accept m, h and d; weeks are written as days.
            return Ok(match unit {
                'w' => format!("now-{}d", n.saturating_mul(7)),
                u => format!("now-{n}{u}"),
            });
        }
        return Err(bad());
    }
    let b = v.as_bytes();
    let looks_like_date = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && v.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b':' | b'T' | b'Z' | b'.' | b'+'));
    if looks_like_date {
        Ok(v.to_string())
    } else {
        Err(bad())
    }
}

/// A sort parameter `field.dir` / `field|dir`, checked against the fields an endpoint allows.
pub fn sort_param(
    sort: Option<&str>,
    allowed: &[&str],
    pipe_form: bool,
) -> Result<Option<String>, String> {
    let Some(s) = sort.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let (field, dir) = match s.rsplit_once(['.', '|']) {
        Some((f, d)) if d == "asc" || d == "desc" => (f, d),
        _ => (s, "desc"),
    };
    if !allowed.contains(&field) {
        return Err(format!(
            "cannot sort by `{field}`; use one of {} with .asc or .desc",
            allowed.join(", ")
        ));
    }
    let sep = if pipe_form { '|' } else { '.' };
    Ok(Some(format!("{field}{sep}{dir}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_quote_and_backslash() {
        assert_eq!(quote("WEB01"), "'WEB01'");
        assert_eq!(quote("a'b"), r"'a\'b'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote(r"x\'+status:'closed"), r"'x\\\'+status:\'closed'");
    }

    #[test]
    fn injection_stays_inside_the_value() {
        let evil = "h' ,hostname:'*";
        let f = Fql::new()
            .eq("hostname", evil)
            .eq("status", "normal")
            .build()
            .unwrap();
        assert_eq!(f, r"hostname:'h\' ,hostname:\'*'+status:'normal'");
        // Everything after the field's opening quote up to the real closing quote is one value.
        assert!(lint(&f).is_ok());
    }

    #[test]
    fn builder_forms() {
        let f = Fql::new()
            .gte("severity", 60)
            .gte("created_timestamp", "now-7d")
            .any_of("status", ["new", "in_progress"])
            .ne("status", "closed")
            .matches("os_version", "windows")
            .eq("applied_globally", true)
            .opt(None::<&str>, |f, v| f.eq("x", v))
            .raw(Some("a:'1',b:'2'"))
            .build()
            .unwrap();
        assert_eq!(
            f,
            "severity:>=60+created_timestamp:>='now-7d'+status:['new','in_progress']+status:!'closed'+os_version:~'windows'+applied_globally:true+(a:'1',b:'2')"
        );
        assert_eq!(Fql::new().raw(Some("  ")).build(), None);
        assert_eq!(
            Fql::new()
                .or([
                    Fql::new().eq("a", "1"),
                    Fql::new().eq("b", "2").eq("c", 3),
                    Fql::new()
                ])
                .ne("id", "x")
                .build()
                .unwrap(),
            "(a:'1',(b:'2'+c:3))+id:!'x'"
        );
        assert_eq!(Fql::new().any_of::<[&str; 0], &str>("a", []).build(), None);
        assert_eq!(
            Fql::new()
                .eq_any_field(&["local_ip", "external_ip"], "10.0.0.1")
                .build()
                .unwrap(),
            "(local_ip:'10.0.0.1',external_ip:'10.0.0.1')"
        );
    }

    #[test]
    fn lint_catches_common_mistakes() {
        assert!(lint("status:'new' AND severity:>50").is_err());
        assert!(lint("hostname:'it''").is_err());
        assert!(lint("(a:'1'").is_err());
        assert!(lint("name:'AND OR'+x:['a']").is_ok());
    }

    #[test]
    fn since_forms() {
        assert_eq!(since("24h").unwrap(), "now-24h");
        assert_eq!(since("2w").unwrap(), "now-14d");
        assert_eq!(
            since("2025-06-13T00:00:00Z").unwrap(),
            "2025-06-13T00:00:00Z"
        );
        assert!(since("yesterday").is_err());
        assert!(since("5y").is_err());
        assert!(since("h").is_err());
        assert!(since("2025-06-13' OR x").is_err());
    }

    #[test]
    fn sort_validation() {
        let allowed = ["hostname", "last_seen"];
        assert_eq!(
            sort_param(Some("hostname.asc"), &allowed, false)
                .unwrap()
                .unwrap(),
            "hostname.asc"
        );
        assert_eq!(
            sort_param(Some("last_seen|desc"), &allowed, false)
                .unwrap()
                .unwrap(),
            "last_seen.desc"
        );
        assert_eq!(
            sort_param(Some("last_seen"), &allowed, true)
                .unwrap()
                .unwrap(),
            "last_seen|desc"
        );
        assert!(sort_param(Some("evil+x"), &allowed, false).is_err());
        assert_eq!(sort_param(None, &allowed, false).unwrap(), None);
    }
}
