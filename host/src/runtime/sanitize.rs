//! Plugin text made safe for the host's log: whatever a plugin says (its `host.log` messages,
//! its stdout and stderr, the names it asks for) is cut to a size and has every control
//! character escaped, so it can never start a line of its own, move the cursor or recolour a
//! terminal, and so never pass for a line the host wrote.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` cut to at most `max` bytes, with control characters, line and paragraph separators and
/// bidirectional overrides escaped the way `str::escape_debug` writes them (`\n`, `\u{1b}`).
pub fn log_safe(s: &str, max: usize) -> Cow<'_, str> {
    let s = super::state::truncate(s, max);
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if needs_escape(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_plugin_written_starts_a_line() {
        let forged =
            "ok\n2026-01-01T00:00:00Z  INFO aerie: plugins loaded\r\u{1b}[2K\u{2028}\u{202e}";
        let safe = log_safe(forged, 4096);
        assert!(
            !safe.contains(['\n', '\r', '\u{1b}', '\u{2028}', '\u{202e}']),
            "{safe}"
        );
        assert!(safe.starts_with("ok\\n2026-01-01T00:00:00Z"), "{safe}");
        assert!(matches!(
            log_safe("plain text, ünïcode", 100),
            Cow::Borrowed(_)
        ));
        assert_eq!(log_safe("abcdef", 3), "abc");
    }
}
