//! `--no-region-header`: the real `falcon-sim` binary leaves `X-CS-Region` out of its responses
//! (FalconPy follows that header to the real cloud); by default every response carries it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use falcon_sim::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

/// A running `falcon-sim`, killed on drop.
struct Sim {
    child: Child,
    base_url: String,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_falcon-sim"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let base_url = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("FALCON_BASE_URL=").map(str::to_string))
            .expect("falcon-sim prints its base URL");
        Sim { child, base_url }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `X-CS-Region` values of a token response and of an API response.
async fn region_headers(sim: &Sim) -> [Option<String>; 2] {
    let http = reqwest::Client::new();
    let token = http
        .post(format!("{}/oauth2/token", sim.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "client_id={DEMO_CLIENT_ID}&client_secret={DEMO_CLIENT_SECRET}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 201);
    let region = |r: &reqwest::Response| {
        r.headers()
            .get("x-cs-region")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let token_region = region(&token);
    let body: serde_json::Value = token.json().await.unwrap();
    let api = http
        .get(format!(
            "{}/devices/queries/devices/v1?limit=1",
            sim.base_url
        ))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    [token_region, region(&api)]
}

#[tokio::test]
async fn no_region_header_leaves_it_out_of_every_response() {
    let sim = Sim::start(&["--no-region-header"]);
    assert_eq!(region_headers(&sim).await, [None, None]);
}

#[tokio::test]
async fn region_header_is_sent_by_default() {
    let sim = Sim::start(&[]);
    let us1 = Some("us-1".to_string());
    assert_eq!(region_headers(&sim).await, [us1.clone(), us1]);
}
