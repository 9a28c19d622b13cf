//! A deployment of real `octohooks` processes around one key prefix: API and worker
//! subprocesses, an in-process store to look at Redis, a token, and a receiver recording
//! every delivery by `webhook-id`. Shared by the scaling tests on one Redis (`cluster.rs`)
//! and on a Redis Cluster (`redis_cluster.rs`).

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

use super::ledger::{
    post_messages, post_messages_through_faults, recording_receiver, settle, Posted, Seen,
};
use super::process::{node_env, ownership_keys, stop_gracefully, NodeProcess};
use super::receiver::Receiver;
use super::server::{Answer, TestServer};
use super::wait::poll_until;

/// Lease lifetime of the workers (`WORKER_ENV`).
pub const LEASE_TTL: Duration = Duration::from_secs(2);
/// Settings of every worker (on top of `support::process::node_env`).
const WORKER_ENV: [(&str, &str); 3] = [
    ("OCTOHOOKS__WORKER__LEASE_TTL", "2s"),
    ("OCTOHOOKS__WORKER__HEARTBEAT", "300ms"),
    ("OCTOHOOKS__WORKER__THREADS", "1"),
];
/// Requests in flight while posting a backlog.
pub const POSTERS: usize = 32;
/// How long the deliveries of a backlog may take once it is posted.
pub const DELIVER: Duration = Duration::from_secs(90);

/// One test with a deployment at a time (each starts four to six processes, a Redis Cluster
/// test six Redis nodes besides, on a shared machine).
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A worker process and the node id it announced in the live set.
pub struct Worker {
    pub name: String,
    pub id: String,
    pub process: NodeProcess,
}

/// API and worker processes around one prefix, with an in-process store to look at Redis
/// and a receiver recording every delivery.
pub struct Deployment {
    pub config: Config,
    /// Deliveries per `webhook-id`, recorded by `receiver`.
    pub seen: Arc<Seen>,
    pub receiver: Receiver,
    pub store: Store,
    /// The organisation the token acts for.
    pub org: String,
    pub token: String,
    pub http: reqwest::Client,
    pub apis: Vec<NodeProcess>,
    pub workers: Vec<Worker>,
    /// Every node id ever seen in the live set (a dead node lingers there for a while).
    known: BTreeSet<String>,
}

impl Deployment {
    /// `apis` API nodes and `workers` worker nodes with `config` (its Redis, prefix and
    /// partitions), started one by one.
    pub async fn start(config: Config, apis: usize, workers: usize) -> Deployment {
        let store = Store::connect(&config).await.expect("store");
        let org = format!("org-{}", Uuid::new_v4().simple());
        let token = store.create_token(&org).await.expect("token");
        let apis = (0..apis)
            .map(|i| NodeProcess::api(&config, &format!("api{}", i + 1), &[]))
            .collect();
        let seen = Arc::new(Seen::default());
        let receiver = recording_receiver(&seen);
        let mut cluster = Deployment {
            config,
            seen,
            receiver,
            store,
            org,
            token,
            http: crate::support::api::http_client(),
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
    pub async fn add_worker(&mut self) -> &Worker {
        let name = format!("w{}", self.workers.len() + 1);
        let process = NodeProcess::worker_with(&self.config, &name, &WORKER_ENV);
        let new = poll_until(
            Duration::from_secs(20),
            &format!("worker {name} in the live set"),
            || async {
                let status = self.status().await;
                let new: Vec<String> = status
                    .nodes
                    .into_keys()
                    .filter(|id| !self.known.contains(id))
                    .collect();
                new
            },
            |new| !new.is_empty(),
        )
        .await;
        assert_eq!(new.len(), 1, "several unknown nodes: {new:?}");
        let id = new[0].clone();
        self.known.insert(id.clone());
        self.workers.push(Worker { name, id, process });
        self.workers.last().expect("just pushed")
    }

    /// Base URLs of the API nodes.
    pub fn bases(&self) -> Vec<String> {
        self.apis.iter().map(|a| a.base.clone()).collect()
    }

    /// A request to API node `node` with the cluster's token.
    pub async fn call(
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
    pub async fn apps_with_endpoints(&self, count: usize, endpoint: Value) -> Vec<String> {
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
            body["url"] = format!("{}/app{i}", self.receiver.url).into();
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
    pub async fn status(&self) -> ClusterStatus {
        cluster::status(&self.store.db, LEASE_TTL)
            .await
            .expect("cluster status")
    }

    /// `octohooks cluster status`, run as a process with the nodes' environment.
    pub fn status_cli(&self) -> Value {
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
    pub fn live_ids(&self) -> BTreeSet<String> {
        self.workers
            .iter()
            .filter(|w| w.process.running())
            .map(|w| w.id.clone())
            .collect()
    }

    /// A worker's name by node id (for printing).
    pub fn name_of(&self, id: &str) -> &str {
        self.workers
            .iter()
            .find(|w| w.id == id)
            .map_or("?", |w| w.name.as_str())
    }

    /// "w1=4 [0, 3, 6, 9] w2=…" for an ownership map.
    pub fn describe(&self, ownership: &BTreeMap<String, Vec<u16>>) -> String {
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
    pub async fn wait_even(&self, timeout: Duration) -> (Duration, BTreeMap<String, Vec<u16>>) {
        let started = Instant::now();
        let live = self.live_ids();
        let (_, _, ownership) = poll_until(
            timeout,
            &format!("an even spread over {} workers", live.len()),
            || async {
                let ownership = self.status().await.ownership;
                let why = even(&ownership, &live, self.config.queue.partitions);
                (self.describe(&ownership), why, ownership)
            },
            |(_, why, _)| why.is_ok(),
        )
        .await;
        (started.elapsed(), ownership)
    }

    /// Fencing epoch of every partition's lease.
    pub async fn epochs(&self) -> Vec<Option<u64>> {
        self.status()
            .await
            .partitions
            .iter()
            .map(|p| p.epoch)
            .collect()
    }

    /// `requests` identical POSTs of `body` to `path`, spread over the API nodes and all in
    /// flight at once; asserts each answers `status` with the same body, and returns the
    /// answers and how many of them were not replays.
    pub async fn race(
        &self,
        requests: usize,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
        status: u16,
    ) -> (Vec<Answer>, usize) {
        let answers: Vec<Answer> = join_all(
            (0..requests).map(|i| self.call(i, "POST", path, Some(body.clone()), headers)),
        )
        .await;
        for answer in &answers {
            assert_eq!(answer.status, status, "{answers:?}");
            assert_eq!(answer.body, answers[0].body, "answers differ");
        }
        let originals = answers
            .iter()
            .filter(|a| a.headers.get("idempotent-replayed").is_none())
            .count();
        (answers, originals)
    }

    /// Posts `count` messages over `apps` through the API nodes in turn, `POSTERS` at a time;
    /// resolves to the accepted ids.
    pub fn post(&self, apps: &[String], count: usize) -> tokio::task::JoinHandle<Vec<String>> {
        post_messages(&self.http, &self.bases(), &self.token, apps, count, POSTERS)
    }

    /// Like `post`, resending refused messages with their Idempotency-Key for up to
    /// `patience` each (see `ledger::post_messages_through_faults`).
    pub fn post_through_faults(
        &self,
        apps: &[String],
        count: usize,
        patience: Duration,
    ) -> tokio::task::JoinHandle<Posted> {
        post_messages_through_faults(
            &self.http,
            &self.bases(),
            &self.token,
            apps,
            count,
            POSTERS,
            patience,
        )
    }

    /// The log tails of every node process (for failure messages).
    pub fn logs(&self) -> String {
        let workers = self
            .workers
            .iter()
            .map(|w| format!("{}:\n{}", w.name, w.process.log_tail()));
        let apis = self
            .apis
            .iter()
            .enumerate()
            .map(|(i, a)| format!("api{}:\n{}", i + 1, a.log_tail()));
        format!(
            "logs:\n{}",
            workers.chain(apis).collect::<Vec<_>>().join("\n")
        )
    }

    /// Stops every process gracefully (workers first, so they release their leases), then
    /// the receiver.
    pub async fn shutdown(mut self) {
        for worker in &mut self.workers {
            if worker.process.running() {
                stop_gracefully(&mut worker.process).await;
            }
        }
        for api in &mut self.apis {
            stop_gracefully(api).await;
        }
        let left = ownership_keys(&self.store).await;
        assert!(left.is_empty(), "workers stopped but left {left:?}");
        self.receiver.stop().await;
    }
}

/// Whether `ownership` gives every one of `partitions` partitions to exactly the nodes
/// `live`, ⌊P/N⌋ or ⌈P/N⌉ each; otherwise why not.
pub fn even(
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
pub fn cli_ownership(status: &Value) -> BTreeMap<String, Vec<u16>> {
    serde_json::from_value(status["ownership"].clone()).expect("ownership map")
}

/// Waits until every accepted message was delivered and the queues are drained; returns
/// (lost, duplicates) as then counted (final: nothing is left to redeliver).
pub async fn wait_all_delivered(accepted: &[String], cluster: &Deployment) -> (usize, usize) {
    settle(accepted, &cluster.seen, &cluster.store, DELIVER, || {
        cluster.logs()
    })
    .await
}
