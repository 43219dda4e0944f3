//! Short, safe causes of HTTP failures: reqwest's own text ("error sending request") says
//! nothing an operator can act on, so walk the error's `source()` chain for the I/O error kind
//! or the hyper/rustls reason and name the host and port — never the query, never a secret.

use std::error::Error as _;

/// What went wrong with one HTTP attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The connection was never established, so the request was never sent (safe to repeat).
    pub before_send: bool,
    /// The attempt ran out of time.
    pub timed_out: bool,
    /// One line for a message, e.g. `could not connect to 127.0.0.1:9: connection refused`.
    pub text: String,
}

/// Describe `e`, a failure talking to `url`'s host.
pub fn describe(e: &reqwest::Error, url: &url::Url) -> Failure {
    let before_send = e.is_connect();
    let timed_out = e.is_timeout();
    let place = host_port(url);
    let cause = root_cause(e, timed_out);
    let text = if before_send {
        format!("could not connect to {place}: {cause}")
    } else {
        format!("{place}: {cause}")
    };
    Failure {
        before_send,
        timed_out,
        text,
    }
}

/// `host:port` of `url`, with the scheme's default port when none is given.
pub fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The most specific cause in `e`'s chain, in a few words.
fn root_cause(e: &reqwest::Error, timed_out: bool) -> String {
    let mut found: Option<String> = None;
    let mut src = e.source();
    // Chains are a handful of links deep; the bound only guards against a cyclic chain.
    for _ in 0..16 {
        let Some(s) = src else { break };
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(c) = io_cause(io)
        {
            return c;
        }
        let text = s.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("dns error") || lower.contains("failed to lookup address") {
            found = Some("DNS lookup failed (check the host name in FALCON_BASE_URL)".into());
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            found = Some(format!("TLS handshake failed: {}", short(&text)));
        } else if lower.contains("connection closed before message completed") {
            found = Some("the connection closed before a response arrived".into());
        } else if found.is_none() && !lower.contains("error sending request") {
            found = Some(short(&text));
        }
        src = s.source();
    }
    if timed_out {
        return "timed out".into();
    }
    found.unwrap_or_else(|| "the connection failed".into())
}

fn io_cause(io: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind as K;
    Some(
        match io.kind() {
            K::ConnectionRefused => "connection refused",
            K::ConnectionReset => "connection reset by peer",
            K::ConnectionAborted => "connection aborted",
            K::BrokenPipe => "connection closed while sending",
            K::UnexpectedEof => "the connection closed before a response arrived",
            K::TimedOut => "timed out",
            K::AddrNotAvailable | K::NetworkUnreachable | K::HostUnreachable => {
                "network unreachable"
            }
            // rustls failures arrive as InvalidData wrapping the TLS error.
            K::InvalidData => {
                return io
                    .get_ref()
                    .map(|inner| format!("TLS handshake failed: {}", short(&inner.to_string())));
            }
            _ => return None,
        }
        .to_string(),
    )
}

/// First 160 characters of `s`, on a char boundary.
fn short(s: &str) -> String {
    s.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_names_the_host_and_port_only() {
        // Bind then drop a listener so the port is closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/x?secret=1")).unwrap();
        let e = reqwest::Client::new()
            .get(url.clone())
            .send()
            .await
            .unwrap_err();
        let f = describe(&e, &url);
        assert!(f.before_send, "{f:?}");
        assert_eq!(
            f.text,
            format!("could not connect to 127.0.0.1:{port}: connection refused")
        );
    }
}
