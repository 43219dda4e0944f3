//! The Redis state backend against a real `redis-server`, several "replicas" (separate
//! connections) racing: budgets never overspend, a decision is recorded once, the GCRA bucket
//! holds the sum of turns under the rate, stored results page anywhere and stay bounded.

mod deploy_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use aerie::controls::approval_queue::{ApprovalQueue, Entry};
use aerie::controls::approvals::Status;
use aerie::controls::budget::{CounterStore, Want};
use aerie::controls::store::{Bounds, Stored};
use aerie::egress::shared::SharedRate;
use aerie::state::{Backend, StateFile};

async fn replicas(redis: &deploy_support::Redis, n: usize) -> Vec<Backend> {
    let f = StateFile {
        backend: Some(redis.url()),
        prefix: Some("t:".into()),
    };
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Backend::open(&f).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_budget_takes_never_overspend() {
    let work = tempfile::tempdir().unwrap();
    let redis = deploy_support::Redis::start(work.path());
    let backends = replicas(&redis, 3).await;
    let counters: Vec<Arc<dyn CounterStore>> = backends.iter().map(|b| b.counters()).collect();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = counters[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            let wants = [
                Want {
                    key: "p#total".into(),
                    limit: 25,
                },
                Want {
                    key: "p#tool:x".into(),
                    limit: 20,
                },
            ];
            c.take("s", &wants).await.is_ok()
        }));
    }
    let mut taken = 0;
    for t in tasks {
        taken += usize::from(t.await.unwrap());
    }
    assert_eq!(taken, 20, "the per-tool limit binds, exactly");
    let read = counters[1]
        .read("s", &["p#total".into(), "p#tool:x".into()])
        .await;
    assert_eq!(
        read,
        [20, 20],
        "all or nothing: refused takes counted nothing"
    );
    counters[2].give_back("s", &["p#tool:x".into()]).await;
    assert_eq!(counters[0].read("s", &["p#tool:x".into()]).await, [19]);
}

fn entry(id: &str) -> Entry {
    Entry {
        id: id.into(),
        tool: "hosts_contain".into(),
        plugin: "hosts".into(),
        args: serde_json::json!({"ids": ["a"], "confirm": true}),
        digest: "d".into(),
        session: "http".into(),
        client: "http".into(),
        preview: "p".into(),
        preview_structured: None,
        created_unix: 0,
        expires_ms: aerie::state::now_ms() + 60_000,
        status: Status::Pending,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decision_is_recorded_once_however_many_replicas_race() {
    let work = tempfile::tempdir().unwrap();
    let redis = deploy_support::Redis::start(work.path());
    let backends = replicas(&redis, 4).await;
    let queues: Vec<Arc<dyn ApprovalQueue>> = backends.iter().map(|b| b.approvals()).collect();
    use aerie::controls::approval_queue::Enqueued;
    assert_eq!(
        queues[0].enqueue(entry("ap-1"), 8).await.unwrap(),
        Enqueued::Added
    );
    // The same call again, through another replica: the pending one is found.
    assert_eq!(
        queues[1].enqueue(entry("ap-2"), 8).await.unwrap(),
        Enqueued::Found("ap-1".into())
    );
    let mut tasks = Vec::new();
    for (i, q) in queues.iter().enumerate() {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let by = format!("op{i}");
            let change = move |e: &mut Entry| {
                if e.status != Status::Pending {
                    return Err(format!("already {}", e.status.name()));
                }
                e.status = Status::Approved { by: by.clone() };
                Ok(())
            };
            q.update("ap-1", &change).await.unwrap().unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap().is_ok());
    }
    assert_eq!(won, 1, "exactly one decision recorded");
    let e = queues[3].get("ap-1").await.unwrap().unwrap();
    assert!(matches!(e.status, Status::Approved { .. }), "{e:?}");
    // An input-required round's answer runs its call once, whichever replica it reaches.
    let ttl = Duration::from_secs(60);
    assert!(queues[0].first_use("round-1", ttl).await.unwrap());
    assert!(!queues[1].first_use("round-1", ttl).await.unwrap());
    assert!(queues[1].first_use("round-2", ttl).await.unwrap());
    // max_pending counts across replicas.
    let mut other = entry("ap-3");
    other.digest = "other".into();
    assert_eq!(
        queues[2].enqueue(other, 1).await.unwrap(),
        Enqueued::Full(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shared_bucket_holds_the_sum_of_turns_under_the_rate() {
    let work = tempfile::tempdir().unwrap();
    let redis = deploy_support::Redis::start(work.path());
    let backends = replicas(&redis, 3).await;
    let buckets: Vec<Arc<dyn SharedRate>> = backends
        .iter()
        .map(|b| b.egress_rate("https://falcon|client|").unwrap())
        .collect();
    // 600/min with a burst of 50: 150 turns from three replicas at once are scheduled over
    // at least (150 - 50) × 100 ms.
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..150 {
        let b = buckets[i % 3].clone();
        // When the turn's request would go out, since the start.
        tasks.push(tokio::spawn(async move {
            let wait = b.turn(600, 50, Duration::from_secs(60)).await.unwrap();
            start.elapsed() + wait
        }));
    }
    let mut waits = Vec::new();
    for t in tasks {
        waits.push(t.await.unwrap());
    }
    waits.sort();
    // The k-th send is no earlier than (k - 49) intervals: the burst, then one per 100 ms.
    for (k, at) in waits.iter().enumerate().skip(50) {
        let earliest = Duration::from_millis(100 * (k as u64 - 49));
        assert!(
            *at + Duration::from_millis(5) >= earliest,
            "turn {k} at {at:?}"
        );
    }
    assert!(
        waits[49] < Duration::from_secs(2),
        "the burst does not wait: {waits:?}"
    );
    let last = waits[149];
    assert!(
        last >= Duration::from_millis(9_800) && last <= Duration::from_millis(10_500),
        "last turn at {last:?}"
    );
    // Less patience than the next turn: refused, nothing reserved.
    let refused = buckets[0].turn(600, 50, Duration::from_secs(1)).await;
    assert!(
        matches!(refused, Err(aerie::egress::shared::NoTurn::TooLate(_))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_results_page_anywhere_and_stay_bounded() {
    let work = tempfile::tempdir().unwrap();
    let redis = deploy_support::Redis::start(work.path());
    let backends = replicas(&redis, 2).await;
    let bounds = Bounds {
        per_session: 3,
        session_bytes: 1 << 20,
        ttl: Duration::from_secs(60),
        total_bytes: 1 << 20,
    };
    let a = backends[0].responses(bounds.clone());
    let b = backends[1].responses(bounds);
    for i in 0..5 {
        a.put(Stored {
            handle: format!("r-{i}"),
            session: "s1".into(),
            tool: "t".into(),
            created: String::new(),
            items: (0..10).map(|n| n.to_string().into_boxed_str()).collect(),
            bytes: 100,
            result_bytes: 100,
        })
        .await
        .unwrap();
    }
    let page = b
        .slice("s1", "r-4", 2, 3)
        .await
        .expect("pages on the other");
    assert_eq!((page.total, page.items.len()), (10, 3));
    assert_eq!(&*page.items[0], "2");
    assert!(
        b.slice("s2", "r-4", 0, 3).await.is_none(),
        "another session's"
    );
    assert!(b.slice("s1", "r-0", 0, 3).await.is_none(), "oldest evicted");
    let listed: Vec<String> = b.list("s1").await.into_iter().map(|l| l.handle).collect();
    assert_eq!(listed, ["r-2", "r-3", "r-4"]);
}
