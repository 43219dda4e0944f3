//! Resource URI templates (RFC 6570 level 1, the subset MCP clients fill in): literal text and
//! `{name}` variables. A variable matches one non-empty run of characters other than `/`, `?`,
//! `#` and `{}`, so a read can never reach past the segment its template names, and every value
//! is checked before a plugin sees it.

/// Longest value a variable may take, in bytes (Falcon ids are under 100).
pub const MAX_VALUE_BYTES: usize = 256;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

impl UriTemplate {
    /// Parse `s`; every error says what to fix.
    pub fn parse(s: &str) -> Result<UriTemplate, String> {
        if !s.contains("://") {
            return Err(format!(
                "URI template `{s}` must be absolute, e.g. falcon://hosts/{{device_id}}"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Literal(rest.to_string()));
                    break;
                }
                Some(i) if rest.as_bytes()[i] == b'}' => {
                    return Err(format!("URI template `{s}` has a `}}` without a `{{`"));
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Literal(rest[..i].to_string()));
                    }
                    let Some(end) = rest[i..].find('}') else {
                        return Err(format!("URI template `{s}` has a `{{` without a `}}`"));
                    };
                    let name = &rest[i + 1..i + end];
                    if !super::valid_name(name) {
                        return Err(format!(
                            "URI template `{s}`: variable `{name}` must match ^[a-z0-9_]{{1,64}}$ (operators such as `+` or `?` are not supported)"
                        ));
                    }
                    if matches!(parts.last(), Some(Part::Var(_))) {
                        return Err(format!(
                            "URI template `{s}`: variables must be separated by literal text"
                        ));
                    }
                    if parts.iter().any(|p| *p == Part::Var(name.to_string())) {
                        return Err(format!("URI template `{s}` repeats variable `{name}`"));
                    }
                    parts.push(Part::Var(name.to_string()));
                    rest = &rest[i + end + 1..];
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Var(_))) {
            return Err(format!(
                "URI template `{s}` has no variable; declare it as a static resource instead"
            ));
        }
        Ok(UriTemplate { parts })
    }

    /// The variable names, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The variables' values when `uri` is an instance of this template, else `None`.
    /// Values are percent-decoded and must be valid UTF-8 of at most [`MAX_VALUE_BYTES`]
    /// without control characters; a URI that fails any check matches nothing.
    pub fn matches(&self, uri: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut rest = uri;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Var(name) => {
                    // A variable runs to the next literal (or the end), within one segment.
                    let end = match self.parts.get(i + 1) {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let raw = &rest[..end];
                    if raw.is_empty() || raw.contains(['/', '?', '#', '{', '}']) {
                        return None;
                    }
                    out.push((name.clone(), decode(raw)?));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(out)
    }
}

/// Percent-decode one value; `None` when it is malformed, too long, not UTF-8 or holds a
/// control character or a `/`.
fn decode(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_VALUE_BYTES
        && !s.chars().any(|c| c.is_control() || c == '/');
    ok.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_is_one_segment_of_checked_text() {
        let t = UriTemplate::parse("falcon://hosts/{device_id}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["device_id"]);
        assert_eq!(
            t.matches("falcon://hosts/abc123"),
            Some(vec![("device_id".into(), "abc123".into())])
        );
        assert_eq!(t.matches("falcon://hosts/"), None);
        assert_eq!(t.matches("falcon://hosts/a/b"), None);
        assert_eq!(
            t.matches("falcon://hosts/a%2Fb"),
            None,
            "an encoded / stays out"
        );
        assert_eq!(t.matches("falcon://hosts/a%0Ab"), None);
        assert_eq!(t.matches("falcon://hosts/a%zz"), None);
        assert_eq!(
            t.matches(&format!("falcon://hosts/{}", "a".repeat(257))),
            None
        );
        assert_eq!(t.matches("falcon://alerts/abc"), None);
        let two = UriTemplate::parse("falcon://x/{a}/y/{b}").unwrap();
        assert_eq!(
            two.matches("falcon://x/1%3A2/y/3"),
            Some(vec![("a".into(), "1:2".into()), ("b".into(), "3".into())])
        );
    }

    #[test]
    fn bad_templates_say_what_to_fix() {
        for (t, want) in [
            ("hosts/{id}", "must be absolute"),
            ("falcon://h/{id", "without a `}`"),
            ("falcon://h/id}", "without a `{`"),
            ("falcon://h/{+id}", "operators"),
            ("falcon://h/{a}{b}", "separated"),
            ("falcon://h/{a}/{a}", "repeats"),
            ("falcon://h/static", "no variable"),
        ] {
            let e = UriTemplate::parse(t).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        }
    }
}
