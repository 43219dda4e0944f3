//! The streamable HTTP transport under hostile raw HTTP clients: sessions bound to the key that
//! opened them, session and connection caps with clear refusals, idle expiry, slow and idle
//! connections closed, memory bounded under a session flood, browser origins refused unless
//! allowed, and DELETE answering what clients expect. All against the real binary.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

const ACCEPT: &str = "application/json, text/event-stream";
const VERSION: &str = "2025-06-18";

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion": VERSION,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}})
}

/// A raw MCP-over-HTTP client: every header is the test's choice.
struct Raw {
    http: reqwest::Client,
    url: String,
}

impl Raw {
    fn new(server: &HttpServer) -> Raw {
        Raw {
            http: reqwest::Client::new(),
            url: server.url(),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        key: Option<&str>,
        sid: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .request(method, &self.url)
            .header("accept", ACCEPT)
            .timeout(Duration::from_secs(60));
        if let Some(k) = key {
            rb = rb.header("authorization", format!("Bearer {k}"));
        }
        if let Some(s) = sid {
            rb = rb
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", VERSION);
        }
        rb
    }

    async fn post(&self, key: Option<&str>, sid: Option<&str>, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, key, sid)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Initialize; the response as it came (status, session id, body).
    async fn try_open(&self, key: Option<&str>) -> (StatusCode, Option<String>, String, String) {
        let r = self.post(key, None, &initialize()).await;
        let status = r.status();
        let sid = r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string());
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, sid, retry, r.text().await.unwrap())
    }

    /// A ready session: initialize plus `notifications/initialized`.
    async fn open(&self, key: Option<&str>) -> String {
        let (status, sid, _, body) = self.try_open(key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sid = sid.expect("initialize answers with Mcp-Session-Id");
        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        let r = self.post(key, Some(&sid), &note).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        sid
    }

    /// `tools/list` in session `sid`: status and body.
    async fn list_tools(&self, key: Option<&str>, sid: &str) -> (StatusCode, String) {
        let r = self
            .post(
                key,
                Some(sid),
                &json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
            )
            .await;
        (r.status(), r.text().await.unwrap())
    }

    async fn assert_works(&self, key: Option<&str>, sid: &str) {
        let (status, body) = self.list_tools(key, sid).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("hello_greet"), "{body}");
    }

    async fn delete(&self, key: Option<&str>, sid: &str) -> StatusCode {
        self.request(reqwest::Method::DELETE, key, Some(sid))
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// A server with the `hello` fixture, `config` written as aerie.toml, and `extra` flags.
async fn server(
    config: &str,
    extra: &[&str],
) -> (HttpServer, tempfile::TempDir, tempfile::TempDir) {
    let plugins = plugins_dir(&["hello"]);
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("aerie.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut args = vec!["--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    let s = start_http_server(plugins.path(), &args, &work.path().join("stderr.log")).await;
    (s, plugins, work)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_answers_only_the_key_that_opened_it() {
    let (srv, _p, _w) = server("", &["--api-key", "key-one", "--api-key", "key-two"]).await;
    let raw = Raw::new(&srv);
    let sid = raw.open(Some("key-one")).await;
    raw.assert_works(Some("key-one"), &sid).await;

    // Key two presenting key one's session id sees exactly what an unknown session looks like.
    let (status, body) = raw.list_tools(Some("key-two"), &sid).await;
    let (unknown_status, unknown_body) = raw.list_tools(Some("key-two"), "no-such-session").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!((status, &body), (unknown_status, &unknown_body));
    assert!(!body.contains("hello_greet"));
    let r = raw
        .request(reqwest::Method::GET, Some("key-two"), Some(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Nor can key two end it.
    assert_eq!(
        raw.delete(Some("key-two"), &sid).await,
        StatusCode::NOT_FOUND
    );
    raw.assert_works(Some("key-one"), &sid).await;
}

/// Two keys whose SHA-256 digests share their first 8 hex digits (`a9c81e51`): sessions were
/// bound to that prefix, so each key could use, and used up the session cap of, the other's.
#[tokio::test(flavor = "multi_thread")]
async fn keys_sharing_a_digest_prefix_share_no_sessions() {
    let (a, b) = ("aerie-key-16271", "aerie-key-26266");
    let config = "[http]\nmax_sessions_per_key = 1\n";
    let (srv, _p, _w) = server(config, &["--api-key", a, "--api-key", b]).await;
    let raw = Raw::new(&srv);
    let sid = raw.open(Some(a)).await;
    let (status, body) = raw.list_tools(Some(b), &sid).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(raw.delete(Some(b), &sid).await, StatusCode::NOT_FOUND);
    // a's session does not count against b's cap of one.
    let sid_b = raw.open(Some(b)).await;
    raw.assert_works(Some(b), &sid_b).await;
    raw.assert_works(Some(a), &sid).await;
    let (status, _, _, body) = raw.try_open(Some(a)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_caps_refuse_clearly_and_free_on_close() {
    let config = "[http]\nmax_sessions = 5\nmax_sessions_per_key = 3\n";
    let keys = ["--api-key", "k1", "--api-key", "k2", "--api-key", "k3"];
    let (srv, _p, _w) = server(config, &keys).await;
    let raw = Raw::new(&srv);
    let mut k1 = Vec::new();
    for _ in 0..3 {
        k1.push(raw.open(Some("k1")).await);
    }
    // The per-key cap: 429, saying which limit, with Retry-After; no session id handed out.
    let (status, sid, retry, body) = raw.try_open(Some("k1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(sid.is_none());
    assert!(retry.parse::<u64>().is_ok(), "Retry-After: {retry:?}");
    assert!(
        body.contains("max_sessions_per_key") && body.contains('3'),
        "{body}"
    );
    for s in &k1 {
        raw.assert_works(Some("k1"), s).await;
    }

    // The total cap: 503, naming it.
    let k2 = [raw.open(Some("k2")).await, raw.open(Some("k2")).await];
    let (status, sid, retry, body) = raw.try_open(Some("k3")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(sid.is_none() && retry.parse::<u64>().is_ok(), "{retry:?}");
    assert!(
        body.contains("max_sessions") && body.contains('5'),
        "{body}"
    );

    // Closing frees a slot for that key; the server-wide cap still holds for others.
    assert_eq!(raw.delete(Some("k1"), &k1[0]).await, StatusCode::NO_CONTENT);
    let again = raw.open(Some("k1")).await;
    raw.assert_works(Some("k1"), &again).await;
    let (status, _, _, body) = raw.try_open(Some("k3")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(raw.delete(Some("k2"), &k2[0]).await, StatusCode::NO_CONTENT);
    let k3 = raw.open(Some("k3")).await;
    raw.assert_works(Some("k3"), &k3).await;
    raw.assert_works(Some("k2"), &k2[1]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_expire_and_free_their_slot() {
    let config = "[http]\nsession_idle_secs = 1\nmax_sessions_per_key = 1\n";
    let (srv, _p, _w) = server(config, &[]).await;
    let raw = Raw::new(&srv);
    let sid = raw.open(None).await;
    raw.assert_works(None, &sid).await;
    let (status, _, _, _) = raw.try_open(None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Left alone, the session goes away (bounded wait, far above the configured second).
    let mut expired = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, _, _, _) = raw.try_open(None).await;
        if status == StatusCode::OK {
            expired = true;
            break;
        }
    }
    assert!(expired, "the idle session never expired");
    let (status, _) = raw.list_tools(None, &sid).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Whether the server closes `stream` (EOF or reset) within `bound`.
fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    stream.set_read_timeout(Some(bound)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a response (e.g. 408) before the close
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_idle_connections_are_closed() {
    let (srv, _p, _w) = server("[http]\nheader_timeout_secs = 1\n", &[]).await;
    let addr = format!("127.0.0.1:{}", srv.port);
    // Half a request head, then nothing.
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        .unwrap();
    // Connected, silent.
    let mut silent = TcpStream::connect(&addr).unwrap();
    // One request answered, then idle on keep-alive.
    let mut kept = TcpStream::connect(&addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 512];
    let n = kept.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    // Generous bound: the configured timeout is one second.
    for (what, s) in [
        ("half header", &mut half),
        ("silent", &mut silent),
        ("keep-alive", &mut kept),
    ] {
        assert!(
            closed_within(s, Duration::from_secs(20)),
            "{what} connection still open"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_are_refused_clearly() {
    let (srv, _p, _w) = server("[http]\nmax_connections = 4\n", &[]).await;
    let addr = format!("127.0.0.1:{}", srv.port);
    let healthz = |s: &mut TcpStream| -> String {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Four held connections, each answered (bounded retries while the start-up probe's
    // connection is still winding down).
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut ok = false;
        for _ in 0..50 {
            let mut s = TcpStream::connect(&addr).unwrap();
            if healthz(&mut s).starts_with("HTTP/1.1 200") {
                held.push(s);
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            ok,
            "connection {} under the cap was refused",
            held.len() + 1
        );
    }
    let mut extra = TcpStream::connect(&addr).unwrap();
    let answer = healthz(&mut extra);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("max_connections") && answer.to_lowercase().contains("retry-after"),
        "{answer}"
    );
    assert!(closed_within(&mut extra, Duration::from_secs(20)));
    // Closing one frees its place.
    drop(held.pop());
    let mut ok = false;
    for _ in 0..50 {
        let mut s = TcpStream::connect(&addr).unwrap();
        if healthz(&mut s).starts_with("HTTP/1.1 200") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "a freed connection slot was not reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_stays_bounded_under_a_session_flood() {
    let (srv, _p, _w) = server("", &[]).await;
    let raw = Raw::new(&srv);
    // Warm up (first session, allocator arenas) before the baseline.
    let first = raw.open(None).await;
    let before = srv.rss_kib();
    let mut accepted = 0;
    for _ in 0..50 {
        let batch = (0..40).map(|_| raw.try_open(None));
        for (status, _, _, body) in futures::future::join_all(batch).await {
            match status {
                StatusCode::OK => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {}
                s => panic!("unexpected {s}: {body}"),
            }
        }
    }
    let after = srv.rss_kib();
    // Default per-key cap (keyless loopback is one caller) is 64, and one was already open.
    assert!(accepted <= 63, "{accepted} of 2000 sessions accepted");
    let growth_mib = after.saturating_sub(before) / 1024;
    assert!(
        growth_mib < 40,
        "RSS grew {growth_mib} MiB over 2000 initialize attempts"
    );
    raw.assert_works(None, &first).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_origins_are_refused_unless_allowed() {
    let (srv, _p, _w) = server("", &[]).await;
    let raw = Raw::new(&srv);
    let with_origin = |origin: &str| {
        raw.request(reqwest::Method::POST, None, None)
            .header("origin", origin.to_string())
            .json(&initialize())
            .send()
    };
    // Any local page on any port used to pass; now a browser origin needs allowing.
    for origin in [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://localhost",
    ] {
        let r = with_origin(origin).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("--allowed-origin") && body.contains("allowed_origins"),
            "{body}"
        );
    }
    // Non-browser clients send no Origin.
    raw.open(None).await;

    let (srv, _p, _w) = server(
        "[http]\nallowed_origins = ['http://localhost:6274']\n",
        &["--allowed-origin", "http://localhost:3000"],
    )
    .await;
    let raw = Raw::new(&srv);
    for (origin, want) in [
        ("http://localhost:3000", StatusCode::OK),
        ("http://localhost:6274", StatusCode::OK),
        ("http://localhost:3001", StatusCode::FORBIDDEN),
        ("https://localhost:3000", StatusCode::FORBIDDEN),
    ] {
        let r = raw
            .request(reqwest::Method::POST, None, None)
            .header("origin", origin)
            .json(&initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{origin}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_ends_a_session_with_204() {
    let (srv, _p, _w) = server("", &[]).await;
    let raw = Raw::new(&srv);
    let sid = raw.open(None).await;
    // The Python SDK treats anything but 200/204 as "Session termination failed".
    assert_eq!(raw.delete(None, &sid).await, StatusCode::NO_CONTENT);
    let (status, _) = raw.list_tools(None, &sid).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(raw.delete(None, &sid).await, StatusCode::NOT_FOUND);
}

/// Refusal lines in a server log: aerie's own WARN and rmcp's "create session" ERROR.
fn refusal_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("refused") || l.contains("create session"))
        .collect()
}

/// The `N` of "(N more refused …)" in a line, or 0.
fn suppressed_count(line: &str) -> u64 {
    line.split_once(" more refused")
        .and_then(|(before, _)| before.rsplit_once('('))
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Refusals the lines account for: each "MCP session refused" line is one, and any line
/// counts the ones held back since the previous line.
fn accounted(lines: &[&str]) -> u64 {
    let own = lines
        .iter()
        .filter(|l| l.contains("MCP session refused"))
        .count() as u64;
    own + lines.iter().map(|l| suppressed_count(l)).sum::<u64>()
}

/// Each refused initialize used to log two lines (aerie's WARN and rmcp's "Internal server
/// error when create session" ERROR), so a client could grow the log at will. Now rmcp never
/// sees a refused initialize, and aerie's line is rate-limited with a count of the rest.
#[tokio::test(flavor = "multi_thread")]
async fn refused_initializes_do_not_flood_the_log() {
    let (srv, _p, work) = server("[http]\nmax_sessions_per_key = 1\n", &[]).await;
    let log = work.path().join("stderr.log");
    let raw = Raw::new(&srv);
    let first = raw.open(None).await;
    const REFUSED: u64 = 500;
    for _ in 0..REFUSED / 50 {
        let batch = (0..50).map(|_| raw.try_open(None));
        for (status, sid, _, body) in futures::future::join_all(batch).await {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            assert!(sid.is_none());
        }
    }
    // The suppressed ones are counted in a line written once the window closes, without
    // waiting for another refusal; poll for it (bounded).
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap();
        if accounted(&refusal_lines(&text)) >= REFUSED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = refusal_lines(&text);
    assert!(
        lines.len() <= 20,
        "{} refusal lines for {REFUSED} refusals:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(!text.contains("create session"), "{text}");
    assert!(
        lines.iter().any(|l| suppressed_count(l) > 0),
        "no line says how many were refused:\n{}",
        lines.join("\n")
    );
    assert_eq!(accounted(&lines), REFUSED, "{}", lines.join("\n"));
    assert!(
        lines.iter().all(|l| l.contains("max_sessions_per_key")),
        "{}",
        lines.join("\n")
    );
    raw.assert_works(None, &first).await;
}

/// An initialize is admitted under the caps before rmcp sees it; when rmcp then rejects it (here
/// a MCP-Protocol-Version header contradicting the body), its slot is freed, not leaked.
#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_initialize_frees_its_slot() {
    let (srv, _p, _w) = server("[http]\nmax_sessions_per_key = 1\n", &[]).await;
    let raw = Raw::new(&srv);
    for _ in 0..3 {
        let r = raw
            .request(reqwest::Method::POST, None, None)
            .header("mcp-protocol-version", "2025-03-26")
            .json(&initialize())
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            r.text().await.unwrap()
        );
    }
    let sid = raw.open(None).await;
    raw.assert_works(None, &sid).await;
}
