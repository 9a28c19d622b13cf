//! Horizontal scaling with the real binary: two `octohooks api` and three (or four)
//! `octohooks worker` subprocesses share one Redis and one key prefix. Partitions must be
//! spread evenly, a worker killed with SIGKILL must have its partitions taken over within the
//! lease lifetime, a joining worker must take its share, nothing may be lost, a rate limit
//! must hold cluster-wide, and an Idempotency-Key must hold across API nodes. Figures are
//! printed; run with `--nocapture` to see them.
//!
//! The tests of this module run one at a time (they start five to six processes each on a
//! shared machine, and measure times).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use octohooks::config::Config;
use octohooks::queue::status::{self as cluster, ClusterStatus};
use octohooks::store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::delivery_support::{assert_drained, QUIET};
use crate::harness::{test_config, Answer, Receiver, Reply, TestServer};
use crate::process_support::{
    node_env, post_messages, reconcile, stop_gracefully, wait_delivered, NodeProcess, Seen,
};

const PARTITIONS: u16 = 12;
const APPS: usize = 100;
const MESSAGES: usize = 10_000;
/// Requests in flight while posting a backlog.
const POSTERS: usize = 32;
const LEASE_TTL: Duration = Duration::from_secs(2);
/// Settings of every worker of these tests (on top of `process_support::node_env`).
const WORKER_ENV: [(&str, &str); 3] = [
    ("OCTOHOOKS__WORKER__LEASE_TTL", "2s"),
    ("OCTOHOOKS__WORKER__HEARTBEAT", "300ms"),
    ("OCTOHOOKS__WORKER__THREADS", "1"),
];
/// How long a cluster may take to settle into an even spread after a start or a join.
const SETTLE: Duration = Duration::from_secs(20);
/// How long the deliveries of a backlog may take once it is posted.
const DELIVER: Duration = Duration::from_secs(90);

/// One cluster test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A worker process and the node id it announced in the live set.
struct Worker {
    name: String,
    id: String,
    process: NodeProcess,
}

/// API and worker processes around one prefix, with an in-process store to look at Redis.
struct Cluster {
    config: Config,
    store: Store,
    token: String,
    http: reqwest::Client,
    apis: Vec<NodeProcess>,
    workers: Vec<Worker>,
    /// Every node id ever seen in the live set (a dead node lingers there for a while).
    known: BTreeSet<String>,
}

impl Cluster {
    /// `apis` API nodes and `workers` worker nodes, started one by one.
    async fn start(apis: usize, workers: usize) -> Cluster {
        let mut config = test_config();
        config.queue.partitions = PARTITIONS;
        let store = Store::connect(&config).await.expect("store");
        let token = store
            .create_token(&format!("org-{}", Uuid::new_v4().simple()))
            .await
            .expect("token");
        let apis = (0..apis)
            .map(|i| NodeProcess::api(&config, &format!("api{}", i + 1), &[]))
            .collect();
        let mut cluster = Cluster {
            config,
            store,
            token,
            http: reqwest::Client::new(),
            apis,
            workers: Vec::new(),
            known: BTreeSet::new(),
        };
        for _ in 0..workers {
            cluster.add_worker().await;
        }
        cluster
    }

    /// Starts one more worker and waits until it shows up in the live set.
    async fn add_worker(&mut self) -> &Worker {
        let name = format!("w{}", self.workers.len() + 1);
        let process = NodeProcess::worker_with(&self.config, &name, &WORKER_ENV);
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            let status = self.status().await;
            let new: Vec<&String> = status
                .nodes
                .keys()
                .filter(|id| !self.known.contains(*id))
                .collect();
            assert!(new.len() <= 1, "several unknown nodes: {new:?}");
            if let Some(id) = new.first() {
                break id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "worker {name} never joined; log:\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.known.insert(id.clone());
        self.workers.push(Worker { name, id, process });
        self.workers.last().expect("just pushed")
    }

    /// Base URLs of the API nodes.
    fn bases(&self) -> Vec<String> {
        self.apis.iter().map(|a| a.base.clone()).collect()
    }

    /// A request to API node `node` with the cluster's token.
    async fn call(
        &self,
        node: usize,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let base = &self.apis[node % self.apis.len()].base;
        let mut request = self
            .http
            .request(method.parse().expect("method"), format!("{base}{path}"))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        TestServer::answer(request.send().await.expect("request")).await
    }

    /// `count` applications with one endpoint each (`endpoint` adds attributes), created
    /// through the API nodes in turn; endpoint `i` is at `{receiver}/app{i}`.
    async fn apps_with_endpoints(
        &self,
        count: usize,
        receiver: &Receiver,
        endpoint: Value,
    ) -> Vec<String> {
        let mut apps = Vec::new();
        for i in 0..count {
            let created = self
                .call(
                    i,
                    "POST",
                    "/api/v1/applications",
                    Some(json!({"name": format!("app-{i}")})),
                    &[],
                )
                .await;
            assert_eq!(created.status, 201, "{:?}", created.body);
            let app = created.body["id"].as_str().expect("id").to_string();
            let mut body = endpoint.clone();
            body["name"] = "endpoint".into();
            body["url"] = format!("{}/app{i}", receiver.url).into();
            let created = self
                .call(
                    i + 1,
                    "POST",
                    &format!("/api/v1/applications/{app}/endpoints"),
                    Some(body),
                    &[],
                )
                .await;
            assert_eq!(created.status, 201, "{:?}", created.body);
            apps.push(app);
        }
        apps
    }

    /// The cluster as Redis sees it (what `octohooks cluster status` prints).
    async fn status(&self) -> ClusterStatus {
        cluster::status(&self.store.db, LEASE_TTL)
            .await
            .expect("cluster status")
    }

    /// `octohooks cluster status`, run as a process with the nodes' environment.
    fn status_cli(&self) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_octohooks"))
            .args(["cluster", "status"])
            .env_remove("RUST_LOG")
            .envs(node_env(&self.config))
            .output()
            .expect("run octohooks cluster status");
        assert!(
            output.status.success(),
            "cluster status failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("cluster status prints JSON")
    }

    /// Ids of the workers still running.
    fn live_ids(&self) -> BTreeSet<String> {
        self.workers
            .iter()
            .filter(|w| w.process.running())
            .map(|w| w.id.clone())
            .collect()
    }

    /// A worker's name by node id (for printing).
    fn name_of(&self, id: &str) -> &str {
        self.workers
            .iter()
            .find(|w| w.id == id)
            .map_or("?", |w| w.name.as_str())
    }

    /// "w1=4 [0, 3, 6, 9] w2=…" for an ownership map.
    fn describe(&self, ownership: &BTreeMap<String, Vec<u16>>) -> String {
        let mut named: Vec<(String, &Vec<u16>)> = ownership
            .iter()
            .map(|(id, parts)| (self.name_of(id).to_string(), parts))
            .collect();
        named.sort();
        named
            .iter()
            .map(|(name, parts)| format!("{name}={} {parts:?}", parts.len()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Waits until the running workers, and only they, own every partition evenly; returns
    /// how long that took and the ownership.
    async fn wait_even(&self, timeout: Duration) -> (Duration, BTreeMap<String, Vec<u16>>) {
        let started = Instant::now();
        let live = self.live_ids();
        loop {
            let status = self.status().await;
            if even(&status.ownership, &live, PARTITIONS).is_ok() {
                return (started.elapsed(), status.ownership);
            }
            if started.elapsed() > timeout {
                let why = even(&status.ownership, &live, PARTITIONS).unwrap_err();
                panic!(
                    "no even spread over {} workers after {timeout:?}: {why}; ownership {}",
                    live.len(),
                    self.describe(&status.ownership)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fencing epoch of every partition's lease.
    async fn epochs(&self) -> Vec<Option<u64>> {
        self.status()
            .await
            .partitions
            .iter()
            .map(|p| p.epoch)
            .collect()
    }

    /// Stops every process gracefully (workers first, so they release their leases).
    async fn shutdown(mut self) {
        for worker in &mut self.workers {
            if worker.process.running() {
                stop_gracefully(&mut worker.process).await;
            }
        }
        for api in &mut self.apis {
            stop_gracefully(api).await;
        }
        let left = crate::process_support::ownership_keys(&self.store).await;
        assert!(left.is_empty(), "workers stopped but left {left:?}");
    }
}

/// Whether `ownership` gives every one of `partitions` partitions to exactly the nodes
/// `live`, ⌊P/N⌋ or ⌈P/N⌉ each; otherwise why not.
fn even(
    ownership: &BTreeMap<String, Vec<u16>>,
    live: &BTreeSet<String>,
    partitions: u16,
) -> Result<(), String> {
    let owners: BTreeSet<String> = ownership.keys().cloned().collect();
    if &owners != live {
        return Err(format!("owners {owners:?}, running workers {live:?}"));
    }
    let mut all: Vec<u16> = ownership.values().flatten().copied().collect();
    all.sort_unstable();
    if all != (0..partitions).collect::<Vec<_>>() {
        return Err(format!("owned partitions {all:?}"));
    }
    let n = live.len();
    let (low, high) = (
        usize::from(partitions) / n,
        usize::from(partitions).div_ceil(n),
    );
    match ownership.values().find(|p| p.len() < low || p.len() > high) {
        Some(share) => Err(format!("a share of {} (want {low}..={high})", share.len())),
        None => Ok(()),
    }
}

/// The ownership map of `octohooks cluster status` output.
fn cli_ownership(status: &Value) -> BTreeMap<String, Vec<u16>> {
    serde_json::from_value(status["ownership"].clone()).expect("ownership map")
}

/// A receiver that records every delivery in `seen` and answers 200 after 1–5 ms, so there
/// is always work in flight.
fn recording_receiver(seen: &Arc<Seen>) -> Receiver {
    let record = seen.clone();
    Receiver::with(Arc::new(move |nth, hit| {
        record.record(hit);
        Reply::status(200).delay(Duration::from_millis(1 + (nth % 5) as u64))
    }))
}

/// Waits until every accepted message was delivered at least once; returns (lost,
/// duplicates) as then counted.
async fn wait_all_delivered(accepted: &[String], seen: &Seen, cluster: &Cluster) -> (usize, usize) {
    let deadline = Instant::now() + DELIVER;
    while reconcile(accepted, seen).0 > 0 {
        if Instant::now() > deadline {
            let logs: Vec<String> = cluster
                .workers
                .iter()
                .map(|w| format!("{}:\n{}", w.name, w.process.log_tail()))
                .collect();
            panic!(
                "{} of {} messages delivered after {DELIVER:?}; logs:\n{}",
                seen.distinct(),
                accepted.len(),
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Give redeliveries already under way a moment to show up in the count.
    tokio::time::sleep(QUIET).await;
    reconcile(accepted, seen)
}

#[actix_rt::test]
async fn three_workers_and_two_apis_spread_partitions_evenly_and_deliver_everything() {
    let _serial = SERIAL.lock().await;
    let seen = Arc::new(Seen::default());
    let receiver = recording_receiver(&seen);
    let cluster = Cluster::start(2, 3).await;
    let apps = cluster
        .apps_with_endpoints(APPS, &receiver, json!({}))
        .await;
    let (settled, _) = cluster.wait_even(SETTLE).await;
    // What an operator sees: the CLI's view of the same state.
    let status = cluster.status_cli();
    let ownership = cli_ownership(&status);
    assert_eq!(
        status["nodes"].as_object().map(|n| n.len()),
        Some(3),
        "{status}"
    );
    if let Err(why) = even(&ownership, &cluster.live_ids(), PARTITIONS) {
        panic!("uneven spread in `cluster status`: {why}\n{status}");
    }
    println!(
        "cluster spread: partitions={PARTITIONS} workers=3 settled_after={settled:?} {}",
        cluster.describe(&ownership)
    );
    let epochs = cluster.epochs().await;
    let started = Instant::now();
    let accepted = post_messages(
        &cluster.http,
        &cluster.bases(),
        &cluster.token,
        &apps,
        MESSAGES,
        POSTERS,
    )
    .await
    .expect("backlog posted");
    let posted = started.elapsed();
    assert_eq!(accepted.len(), MESSAGES);
    let (lost, duplicates) = wait_all_delivered(&accepted, &seen, &cluster).await;
    let delivered = started.elapsed();
    println!(
        "cluster steady: messages={MESSAGES} apps={APPS} api_nodes=2 posted_in={posted:?} \
         all_delivered_after={delivered:?} lost={lost} duplicates={duplicates}"
    );
    assert_eq!(lost, 0, "messages lost");
    // Nobody joined or left: no partition changed hands, so nothing was delivered twice.
    assert_eq!(duplicates, 0, "redeliveries in a steady cluster");
    assert_eq!(
        cluster.epochs().await,
        epochs,
        "leases were re-acquired in a steady cluster"
    );
    let (_, after) = cluster.wait_even(Duration::ZERO).await;
    assert_eq!(after, ownership, "ownership moved in a steady cluster");
    assert_drained(&cluster.store, Duration::from_secs(10)).await;
    cluster.shutdown().await;
    receiver.stop().await;
}

/// Polls the cluster after `dead` was killed until none of its partitions is left unowned
/// or owned by it; returns (takeover time, when it left the live set), both from `killed`.
async fn wait_takeover(cluster: &Cluster, dead: &str, killed: Instant) -> (Duration, Duration) {
    let mut left_live = None;
    loop {
        let status = cluster.status().await;
        let at = killed.elapsed();
        if left_live.is_none() && !status.nodes.contains_key(dead) {
            left_live = Some(at);
        }
        let orphaned: Vec<u16> = status
            .partitions
            .iter()
            .filter(|p| p.owner.as_deref().is_none_or(|o| o == dead))
            .map(|p| p.partition)
            .collect();
        if orphaned.is_empty() {
            return (at, left_live.unwrap_or(at));
        }
        assert!(
            at < LEASE_TTL + Duration::from_secs(10),
            "partitions {orphaned:?} still orphaned {at:?} after the kill; ownership {}",
            cluster.describe(&status.ownership)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn a_killed_worker_loses_nothing_and_its_partitions_are_taken_over_within_the_lease_ttl() {
    let _serial = SERIAL.lock().await;
    let seen = Arc::new(Seen::default());
    let receiver = recording_receiver(&seen);
    let mut cluster = Cluster::start(2, 3).await;
    let apps = cluster
        .apps_with_endpoints(APPS, &receiver, json!({}))
        .await;
    cluster.wait_even(SETTLE).await;
    // Two halves: the kill lands in the middle of the first, the replacement worker joins in
    // the middle of the second.
    let half = MESSAGES / 2;
    let first = post_messages(
        &cluster.http,
        &cluster.bases(),
        &cluster.token,
        &apps,
        half,
        POSTERS,
    );
    wait_delivered(&seen, half / 3, DELIVER, "deliveries before the kill").await;
    let victim = &mut cluster.workers[1];
    victim.process.kill();
    let killed = Instant::now();
    let dead = victim.id.clone();
    let at_kill = seen.distinct();
    let (takeover, left_live) = wait_takeover(&cluster, &dead, killed).await;
    let (_, two) = cluster.wait_even(SETTLE).await;
    let rebalanced = killed.elapsed();
    println!(
        "cluster kill -9: delivered_before_kill={at_kill} dead_node_left_live_set_after={left_live:?} \
         takeover={takeover:?} (lease_ttl={LEASE_TTL:?}) even_over_2_after={rebalanced:?} {}",
        cluster.describe(&two)
    );
    assert!(
        takeover <= LEASE_TTL + Duration::from_secs(3),
        "the dead node's partitions were owned again only {takeover:?} after the kill"
    );
    let mut accepted = first.await.expect("first half posted");
    let second = post_messages(
        &cluster.http,
        &cluster.bases(),
        &cluster.token,
        &apps,
        half,
        POSTERS,
    );
    wait_delivered(
        &seen,
        half + half / 3,
        DELIVER,
        "deliveries before the join",
    )
    .await;
    let at_join = seen.distinct();
    let joined = Instant::now();
    cluster.add_worker().await;
    let (_, three) = cluster.wait_even(SETTLE).await;
    let settled = joined.elapsed();
    println!(
        "cluster replacement join: delivered_before_join={at_join} even_over_3_after={settled:?} {}",
        cluster.describe(&three)
    );
    accepted.extend(second.await.expect("second half posted"));
    assert_eq!(accepted.len(), MESSAGES);
    let (lost, duplicates) = wait_all_delivered(&accepted, &seen, &cluster).await;
    println!(
        "cluster kill -9 and join: messages={MESSAGES} lost={lost} duplicates={duplicates} \
         requests={}",
        seen.total()
    );
    assert_eq!(lost, 0, "messages lost");
    assert_drained(&cluster.store, Duration::from_secs(10)).await;
    cluster.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_fourth_worker_takes_its_share_and_nothing_is_lost() {
    let _serial = SERIAL.lock().await;
    let seen = Arc::new(Seen::default());
    let receiver = recording_receiver(&seen);
    let mut cluster = Cluster::start(2, 3).await;
    let apps = cluster
        .apps_with_endpoints(APPS, &receiver, json!({}))
        .await;
    let (_, before) = cluster.wait_even(SETTLE).await;
    let backlog = post_messages(
        &cluster.http,
        &cluster.bases(),
        &cluster.token,
        &apps,
        MESSAGES,
        POSTERS,
    );
    wait_delivered(&seen, MESSAGES / 3, DELIVER, "deliveries before the join").await;
    let at_join = seen.distinct();
    let joined = Instant::now();
    let newcomer = cluster.add_worker().await.id.clone();
    let (_, after) = cluster.wait_even(SETTLE).await;
    let settled = joined.elapsed();
    println!(
        "cluster join: before {} | delivered_before_join={at_join} even_over_4_after={settled:?} \
         after {}",
        cluster.describe(&before),
        cluster.describe(&after)
    );
    assert_eq!(after[&newcomer].len(), usize::from(PARTITIONS) / 4);
    let accepted = backlog.await.expect("backlog posted");
    assert_eq!(accepted.len(), MESSAGES);
    let (lost, duplicates) = wait_all_delivered(&accepted, &seen, &cluster).await;
    println!(
        "cluster join: messages={MESSAGES} lost={lost} duplicates={duplicates} requests={}",
        seen.total()
    );
    assert_eq!(lost, 0, "messages lost");
    // Partitions moved by draining and releasing them: nothing is delivered twice.
    assert_eq!(duplicates, 0, "a graceful hand-over redelivered");
    assert_drained(&cluster.store, Duration::from_secs(10)).await;
    cluster.shutdown().await;
    receiver.stop().await;
}

/// Most deliveries in any one-second window `[t, t + 1 s)` starting at a delivery, over the
/// windows `keep` accepts (given their start and end).
fn max_per_second(times: &[Instant], keep: impl Fn(Instant, Instant) -> bool) -> usize {
    let second = Duration::from_secs(1);
    let mut best = 0;
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + second {
            end += 1;
        }
        if keep(*t, *t + second) {
            best = best.max(end - start);
        }
    }
    best
}

#[actix_rt::test]
async fn a_rate_limit_holds_cluster_wide_through_a_hand_over() {
    const RATE: usize = 20;
    const PACED: usize = 300;
    /// Extra deliveries allowed in a window around the hand-over: the new owner's limiter
    /// starts afresh and may admit one request right after the old owner's last one.
    const HAND_OVER_ALLOWANCE: usize = 1;
    let _serial = SERIAL.lock().await;
    let seen = Arc::new(Seen::default());
    let receiver = recording_receiver(&seen);
    let mut cluster = Cluster::start(2, 3).await;
    let apps = cluster
        .apps_with_endpoints(1, &receiver, json!({"rateLimit": RATE}))
        .await;
    let (_, ownership) = cluster.wait_even(SETTLE).await;
    let partition = cluster
        .store
        .db
        .keys
        .partition_of(Uuid::parse_str(&apps[0]).expect("uuid"));
    let owner = ownership
        .iter()
        .find(|(_, parts)| parts.contains(&partition))
        .map(|(id, _)| id.clone())
        .expect("an owner");
    let started = Instant::now();
    let backlog = post_messages(
        &cluster.http,
        &cluster.bases(),
        &cluster.token,
        &apps,
        PACED,
        POSTERS,
    );
    wait_delivered(
        &seen,
        PACED / 3,
        DELIVER,
        "paced deliveries before the hand-over",
    )
    .await;
    // The owner of the paced endpoint's partition stops gracefully mid-flow. It holds about
    // 200 paced jobs (10 s of work), so its drain is cut short by the shutdown timeout; it
    // then releases the lease and another worker re-reads what is left: a real hand-over,
    // with the old and the new owner's deliveries close together.
    let at_stop = seen.distinct();
    let index = cluster
        .workers
        .iter()
        .position(|w| w.id == owner)
        .expect("owner is a worker");
    let victim = &mut cluster.workers[index];
    let stopping = Instant::now();
    victim.process.terminate();
    let new_owner = loop {
        let status = cluster.status().await;
        if let Some(o) = status.partitions[usize::from(partition)]
            .owner
            .clone()
            .filter(|o| *o != owner)
        {
            break o;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(15),
            "partition {partition} not taken over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let acquired = Instant::now();
    let victim = &mut cluster.workers[index];
    let exit = victim.process.wait_exit(Duration::from_secs(10)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "stopping worker: {exit:?}; log:\n{}",
        victim.process.log_tail()
    );
    let accepted = backlog.await.expect("backlog posted");
    let (lost, duplicates) = wait_all_delivered(&accepted, &seen, &cluster).await;
    let mut times: Vec<Instant> = receiver.hits().iter().map(|h| h.at).collect();
    times.sort();
    let hand_over = (stopping, acquired + Duration::from_secs(1));
    let overlaps = |from: Instant, to: Instant| from <= hand_over.1 && hand_over.0 < to;
    let steady = max_per_second(&times, |from, to| !overlaps(from, to));
    let around = max_per_second(&times, overlaps);
    let span = times[times.len() - 1].duration_since(times[0]);
    println!(
        "cluster rate limit: rate={RATE}/s messages={PACED} delivered_before_stop={at_stop} \
         hand_over={:?} (owner {} -> {}) max_per_1s_window_steady={steady} \
         max_per_1s_window_around_hand_over={around} span={span:?} lost={lost} \
         duplicates={duplicates} total_run={:?}",
        acquired.duration_since(stopping),
        cluster.name_of(&owner),
        cluster.name_of(&new_owner),
        started.elapsed()
    );
    assert_eq!(lost, 0, "paced messages lost");
    assert!(
        steady <= RATE + 1,
        "{steady} deliveries in one second (limit {RATE}/s, burst 1)"
    );
    assert!(
        around <= RATE + 1 + HAND_OVER_ALLOWANCE,
        "{around} deliveries in one second around the hand-over"
    );
    assert_drained(&cluster.store, Duration::from_secs(10)).await;
    cluster.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn one_idempotency_key_sent_to_both_api_nodes_at_once_runs_once() {
    const REQUESTS: usize = 10;
    let _serial = SERIAL.lock().await;
    let seen = Arc::new(Seen::default());
    let receiver = recording_receiver(&seen);
    let cluster = Cluster::start(2, 1).await;
    let key = [("idempotency-key", "cluster-race-app")];
    // Applications: ten identical creations, split over the two API nodes, all in flight.
    let body = json!({"name": "raced"});
    let answers: Vec<Answer> = join_all(
        (0..REQUESTS)
            .map(|i| cluster.call(i, "POST", "/api/v1/applications", Some(body.clone()), &key)),
    )
    .await;
    let originals = answers
        .iter()
        .filter(|a| a.headers.get("idempotent-replayed").is_none())
        .count();
    for answer in &answers {
        assert_eq!(answer.status, 201, "{answers:?}");
        assert_eq!(answer.body, answers[0].body, "answers differ");
    }
    let apps = cluster
        .call(0, "GET", "/api/v1/applications", None, &[])
        .await;
    let app_count = apps.body.as_array().map_or(0, Vec::len);
    println!(
        "cluster idempotency (applications): requests={REQUESTS} over 2 API nodes \
         statuses={:?} originals={originals} applications_created={app_count}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(originals, 1, "exactly one request ran: {answers:?}");
    assert_eq!(app_count, 1, "{:?}", apps.body);
    let app = answers[0].body["id"].as_str().expect("id").to_string();
    let endpoint = json!({"name": "e", "url": format!("{}/raced", receiver.url)});
    let created = cluster
        .call(
            1,
            "POST",
            &format!("/api/v1/applications/{app}/endpoints"),
            Some(endpoint),
            &[],
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    // Messages: the same, and the one message is delivered once.
    let path = format!("/api/v1/applications/{app}/messages");
    let message = json!({"eventType": "raced", "payload": {"once": true}});
    let key = [("idempotency-key", "cluster-race-message")];
    let answers: Vec<Answer> = join_all(
        (0..REQUESTS).map(|i| cluster.call(i, "POST", &path, Some(message.clone()), &key)),
    )
    .await;
    let originals = answers
        .iter()
        .filter(|a| a.headers.get("idempotent-replayed").is_none())
        .count();
    for answer in &answers {
        assert_eq!(answer.status, 202, "{answers:?}");
        assert_eq!(answer.body, answers[0].body, "answers differ");
    }
    assert_eq!(originals, 1, "exactly one request ran: {answers:?}");
    let listed = cluster.call(1, "GET", &path, None, &[]).await;
    assert_eq!(
        listed.body.as_array().map_or(0, Vec::len),
        1,
        "{:?}",
        listed.body
    );
    let id = answers[0].body["id"].as_str().expect("id").to_string();
    wait_delivered(&seen, 1, Duration::from_secs(10), "the raced message").await;
    assert_drained(&cluster.store, Duration::from_secs(10)).await;
    tokio::time::sleep(QUIET).await;
    let (lost, duplicates) = reconcile(std::slice::from_ref(&id), &seen);
    println!(
        "cluster idempotency (messages): requests={REQUESTS} originals={originals} \
         messages_created=1 deliveries={} lost={lost} duplicates={duplicates}",
        seen.total()
    );
    assert_eq!((lost, duplicates), (0, 0));
    cluster.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn cluster_status_forgets_a_killed_worker_once_its_lease_ttl_has_passed() {
    // With no other worker left to evict it from the live set, the status command itself
    // must not report a dead node as live.
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(0, 1).await;
    cluster.wait_even(SETTLE).await;
    let worker = &mut cluster.workers[0];
    worker.process.kill();
    let killed = Instant::now();
    let limit = LEASE_TTL + Duration::from_secs(2);
    let gone = loop {
        let status = cluster.status_cli();
        let nodes = status["nodes"].as_object().map_or(0, |n| n.len());
        if nodes == 0 && cli_ownership(&status).is_empty() {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < limit,
            "`cluster status` still shows the killed worker {limit:?} after the kill: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("cluster status: killed worker no longer listed {gone:?} after the kill");
}
