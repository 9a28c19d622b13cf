//! The at-least-once promise across process deaths: the real `octohooks worker` binary runs
//! as a subprocess next to an in-process API-only node (same Redis, same key prefix), is
//! killed (SIGKILL) or stopped (SIGTERM) in the middle of a backlog, and a new worker must
//! deliver every accepted message. Figures are printed; run with `--nocapture` to see them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octohooks::config::Config;
use octohooks::runtime::Roles;
use serde_json::json;

use crate::support::ledger::{
    self, in_flight_bound, recording_receiver, settle, wait_delivered, Seen,
};
use crate::support::process::{lease_holders, ownership_keys, stop_gracefully, NodeProcess};
use crate::support::queue::assert_drained;
use crate::support::receiver::{Gate, Receiver, Reply};
use crate::support::server::{test_config, TestServer};
use crate::support::wait::{eventually, holds_for, WAIT};

const MESSAGES: usize = 2_000;
const APPS: usize = 8;
const PARTITIONS: u16 = 4;
/// Deliveries after which the first worker is stopped.
const STOP_AFTER: usize = 500;
/// Concurrent API clients posting the backlog.
const POSTERS: usize = 16;
/// How long a backlog may take to be delivered.
const DELIVER: Duration = Duration::from_secs(60);

/// The test configuration with this module's partition count (shared by the in-process API
/// node and, through `node_env`, the worker processes).
fn config() -> Config {
    let mut config = test_config();
    config.queue.partitions = PARTITIONS;
    config
}

/// The API-only node, the receiver and `APPS` applications with one endpoint each.
struct Setup {
    api: TestServer,
    config: Config,
    receiver: Receiver,
    seen: Arc<Seen>,
    apps: Vec<String>,
}

async fn setup() -> Setup {
    setup_with(json!({})).await
}

/// `setup` with extra endpoint attributes (e.g. a rate limit, to keep work queued longer).
async fn setup_with(endpoint: serde_json::Value) -> Setup {
    let config = config();
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let seen = Arc::new(Seen::default());
    // Answers after 1–5 ms, so there is always work in flight when the worker dies.
    let receiver = recording_receiver(&seen);
    let mut apps = Vec::new();
    for i in 0..APPS {
        let app = api.create_app(&format!("crash-{i}")).await;
        api.create_endpoint(&app, &format!("{}/app{i}", receiver.url), endpoint.clone())
            .await;
        apps.push(app);
    }
    Setup {
        api,
        config,
        receiver,
        seen,
        apps,
    }
}

impl Setup {
    /// Posts `MESSAGES` messages round-robin over the apps; resolves to the accepted ids.
    fn post_backlog(&self) -> tokio::task::JoinHandle<Vec<String>> {
        post_messages(&self.api, &self.apps, MESSAGES)
    }

    /// Waits for every accepted message and drained queues; returns (lost, duplicates).
    async fn settle(&self, accepted: &[String], worker: &NodeProcess) -> (usize, usize) {
        settle(accepted, &self.seen, &self.api.store, DELIVER, || {
            format!("new worker's log:\n{}", worker.log_tail())
        })
        .await
    }

    async fn stop(self) {
        let left = ownership_keys(&self.api.store).await;
        assert!(left.is_empty(), "graceful stop left {left:?}");
        self.api.shutdown().await;
        self.receiver.stop().await;
    }
}

/// Posts `count` messages round-robin over `apps` with `POSTERS` concurrent clients.
fn post_messages(
    api: &TestServer,
    apps: &[String],
    count: usize,
) -> tokio::task::JoinHandle<Vec<String>> {
    ledger::post_messages(
        &api.http,
        std::slice::from_ref(&api.base),
        &api.token,
        apps,
        count,
        POSTERS,
    )
}

#[actix_rt::test]
async fn a_killed_worker_loses_no_message_and_redelivers_at_most_what_was_in_flight() {
    let setup = setup().await;
    let mut first = NodeProcess::worker(&setup.config, "first");
    let started = Instant::now();
    let backlog = setup.post_backlog();
    wait_delivered(
        &setup.seen,
        STOP_AFTER,
        DELIVER,
        "deliveries before the kill",
    )
    .await;
    first.kill();
    let killed = Instant::now();
    let at_kill = (setup.seen.distinct(), setup.seen.total());
    // The dead worker's requests came over its own connections; the new worker cannot reuse
    // them, so its first delivery is the first hit from a port not seen before the kill.
    let old_ports: HashSet<_> = setup.receiver.hits().iter().map(|h| h.peer).collect();
    let mut second = NodeProcess::worker(&setup.config, "second");
    let respawned = Instant::now();
    eventually(DELIVER, "first delivery by the new worker", || async {
        setup
            .receiver
            .hits()
            .iter()
            .any(|h| !old_ports.contains(&h.peer))
    })
    .await;
    let resumed = respawned.elapsed();
    let accepted = setup.post_backlog_result(backlog).await;
    let (lost, duplicates) = setup.settle(&accepted, &second).await;
    let recovered = killed.elapsed();
    // Only the requests under way at the kill can be delivered twice.
    let bound = in_flight_bound(&setup.config, APPS, usize::from(PARTITIONS));
    println!(
        "crash test (SIGKILL): messages={MESSAGES} delivered_before_kill={} \
         requests_before_kill={} lost={lost} duplicates={duplicates} (bound {bound}) \
         first_delivery_after_restart={resumed:?} all_delivered_after_kill={recovered:?} \
         total_run={:?}",
        at_kill.0,
        at_kill.1,
        started.elapsed()
    );
    assert_eq!(lost, 0, "messages lost");
    assert!(
        duplicates <= bound,
        "{duplicates} redeliveries; at most {bound} requests can have been in flight"
    );
    let took = stop_gracefully(&mut second).await;
    println!("crash test: second worker stopped in {took:?} after SIGTERM");
    setup.stop().await;
}

impl Setup {
    /// The ids the backlog poster got accepted (all of them).
    async fn post_backlog_result(
        &self,
        backlog: tokio::task::JoinHandle<Vec<String>>,
    ) -> Vec<String> {
        let accepted = backlog.await.expect("backlog posted");
        assert_eq!(accepted.len(), MESSAGES);
        accepted
    }
}

#[actix_rt::test]
async fn a_terminated_worker_drains_and_hands_over() {
    let setup = setup().await;
    let mut first = NodeProcess::worker(&setup.config, "first");
    let backlog = setup.post_backlog();
    wait_delivered(
        &setup.seen,
        STOP_AFTER,
        DELIVER,
        "deliveries before SIGTERM",
    )
    .await;
    let took = stop_gracefully(&mut first).await;
    let at_stop = (setup.seen.distinct(), setup.seen.total());
    // A graceful stop gives every lease back and leaves the live set, so the next worker
    // need not wait for the leases to expire.
    let left = ownership_keys(&setup.api.store).await;
    assert!(left.is_empty(), "graceful stop left {left:?}");
    // It exited after its drain: every request it made was answered, the count is final.
    let frozen = setup.seen.total();
    let mut second = NodeProcess::worker(&setup.config, "second");
    let respawned = Instant::now();
    eventually(DELIVER, "first delivery by the new worker", || async {
        setup.seen.total() > frozen
    })
    .await;
    let resumed = respawned.elapsed();
    let accepted = setup.post_backlog_result(backlog).await;
    let (lost, duplicates) = setup.settle(&accepted, &second).await;
    println!(
        "graceful test (SIGTERM): messages={MESSAGES} delivered_before_stop={} \
         requests_before_stop={} stop_took={took:?} lost={lost} duplicates={duplicates} \
         first_delivery_after_restart={resumed:?} all_delivered_after_restart={:?}",
        at_stop.0,
        at_stop.1,
        respawned.elapsed()
    );
    assert_eq!(lost, 0, "messages lost");
    // In-flight work was finished before exit, not left to be redone.
    assert_eq!(duplicates, 0, "a graceful stop must not cause redeliveries");
    stop_gracefully(&mut second).await;
    setup.stop().await;
}

#[actix_rt::test]
async fn fan_out_and_retries_survive_a_killed_worker() {
    // Each message goes to two endpoints (a stream entry acknowledged only when both are
    // done); one of them fails every first attempt, so retries sit in the retry set and move
    // back through the stream while the worker dies.
    const FAN_OUT_MESSAGES: usize = 1_000;
    const FAN_OUT_APPS: usize = 4;
    /// Small reads: at most 4 × 16 entries of a partition are read and not acknowledged.
    const BATCH_SIZE: usize = 16;
    let config = config();
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    /// Per (endpoint kind, webhook-id): successful deliveries, and whether "b" refused once.
    #[derive(Default)]
    struct Ledger {
        succeeded: HashMap<(char, String), usize>,
        refused: HashSet<(char, String)>,
    }
    let successes: Arc<Mutex<Ledger>> = Arc::default();
    let record = successes.clone();
    let receiver = Receiver::with(Arc::new(move |nth, hit| {
        let id = hit.webhook_id().to_string();
        let kind = hit.path.chars().nth(1).unwrap_or('?');
        let mut ledger = record.lock().expect("successes");
        // Endpoint "b" refuses the first attempt of every message; its retry succeeds.
        if kind == 'b' && ledger.refused.insert((kind, id.clone())) {
            return Reply::status(500);
        }
        *ledger.succeeded.entry((kind, id)).or_insert(0) += 1;
        Reply::status(200).delay(Duration::from_millis(1 + (nth % 5) as u64))
    }));
    let mut apps = Vec::new();
    for i in 0..FAN_OUT_APPS {
        let app = api.create_app(&format!("fan-out-{i}")).await;
        for kind in ["a", "b"] {
            api.create_endpoint(&app, &format!("{}/{kind}{i}", receiver.url), json!({}))
                .await;
        }
        apps.push(app);
    }
    let batch = BATCH_SIZE.to_string();
    let worker_env = [
        ("OCTOHOOKS__CIRCUIT__FAILURE_THRESHOLD", "1000000"),
        ("OCTOHOOKS__QUEUE__BATCH_SIZE", batch.as_str()),
    ];
    let mut first = NodeProcess::worker_with(&config, "fan-out-first", &worker_env);
    let backlog = post_messages(&api, &apps, FAN_OUT_MESSAGES);
    let delivered = || successes.lock().expect("successes").succeeded.len();
    eventually(DELIVER, "deliveries before the kill", || async {
        delivered() >= STOP_AFTER
    })
    .await;
    first.kill();
    let killed = Instant::now();
    let at_kill = delivered();
    let second = NodeProcess::worker_with(&config, "fan-out-second", &worker_env);
    let accepted = backlog.await.expect("backlog posted");
    assert_eq!(accepted.len(), FAN_OUT_MESSAGES);
    eventually(DELIVER, "every delivery after the kill", || async {
        delivered() >= 2 * FAN_OUT_MESSAGES
    })
    .await;
    let recovered = killed.elapsed();
    // Once drained, no redelivery can come: the ledger is final.
    assert_drained(&api.store).await;
    let successes = successes.lock().expect("successes").succeeded.clone();
    let mut lost = 0;
    for id in &accepted {
        for kind in ['a', 'b'] {
            if successes.get(&(kind, id.clone())).copied().unwrap_or(0) == 0 {
                lost += 1;
            }
        }
    }
    let duplicates: usize = successes.values().map(|c| c.saturating_sub(1)).sum();
    // A stream entry read and not acknowledged at the kill is delivered again to both its
    // endpoints: at most the read window of every partition, twice.
    let bound = 2 * usize::from(PARTITIONS) * 4 * BATCH_SIZE;
    println!(
        "fan-out crash test (SIGKILL): messages={FAN_OUT_MESSAGES} deliveries_expected={} \
         delivered_before_kill={at_kill} lost={lost} duplicate_successes={duplicates} \
         (bound {bound}) all_delivered_after_kill={recovered:?}",
        2 * FAN_OUT_MESSAGES
    );
    assert_eq!(
        lost,
        0,
        "deliveries lost; new worker's log:\n{}",
        second.log_tail()
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicate successes; at most {bound} deliveries were unacknowledged"
    );
    drop(second);
    api.shutdown().await;
    receiver.stop().await;
}

/// One message whose first delivery is held at the receiver until `gate` opens, with a
/// worker (`name`, shutdown timeout `shutdown`) delivering it; returns once the held request
/// is in flight.
struct HeldDelivery {
    api: TestServer,
    config: Config,
    receiver: Receiver,
    message: String,
    worker_env: [(&'static str, String); 1],
    first: NodeProcess,
}

impl HeldDelivery {
    async fn start(name: &str, shutdown: Duration, gate: &Arc<Gate>) -> HeldDelivery {
        let config = config();
        let api = TestServer::start_config(config.clone(), Roles::API).await;
        let held = gate.clone();
        let receiver = Receiver::with(Arc::new(move |nth, _| {
            let reply = Reply::status(200);
            if nth == 0 {
                reply.hold(&held)
            } else {
                reply
            }
        }));
        let app = api.create_app(name).await;
        api.create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
            .await;
        let worker_env = [(
            "OCTOHOOKS__SHUTDOWN__TIMEOUT",
            format!("{}s", shutdown.as_secs()),
        )];
        let first = NodeProcess::worker_with(&config, &format!("{name}-first"), &env(&worker_env));
        let message = api.send_event(&app, "x").await;
        eventually(WAIT, "the delivery in flight", || async {
            receiver.hits_on("/hook").len() == 1
        })
        .await;
        HeldDelivery {
            api,
            config,
            receiver,
            message,
            worker_env,
            first,
        }
    }

    /// Another worker with the same settings.
    fn second(&self, name: &str) -> NodeProcess {
        NodeProcess::worker_with(&self.config, name, &env(&self.worker_env))
    }

    /// The `webhook-id`s the receiver got, in order.
    fn delivered(&self) -> Vec<String> {
        self.receiver
            .hits_on("/hook")
            .iter()
            .map(|h| h.webhook_id().to_string())
            .collect()
    }

    async fn stop(self) {
        self.api.shutdown().await;
        self.receiver.stop().await;
    }
}

fn env<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[actix_rt::test]
async fn a_stuck_delivery_does_not_hold_up_a_graceful_stop() {
    // The receiver holds the first request until the end of the test: far longer than the
    // worker's 2 s shutdown timeout (its delivery timeout is 15 s).
    let shutdown = Duration::from_secs(2);
    let gate = Arc::new(Gate::default());
    let mut held = HeldDelivery::start("stuck", shutdown, &gate).await;
    let asked = Instant::now();
    held.first.terminate();
    // The shutdown timeout, plus up to 3 s for a loaded machine to release the leases and
    // exit: still far less than the stuck request would take.
    let limit = shutdown + Duration::from_secs(3);
    let status = held.first.wait_exit(limit).await;
    let took = asked.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "worker still running {limit:?} after SIGTERM (shutdown timeout {shutdown:?}); \
             log:\n{}",
            held.first.log_tail()
        )
    });
    println!("stuck delivery: worker exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    // Even when the drain times out, the leases go back: the next worker need not wait.
    let left = ownership_keys(&held.api.store).await;
    assert!(
        left.is_empty(),
        "stop after a timed-out drain left {left:?}"
    );
    let second = held.second("stuck-second");
    let respawned = Instant::now();
    eventually(WAIT, "redelivery by the new worker", || async {
        held.receiver.hits_on("/hook").len() >= 2
    })
    .await;
    let redelivered = respawned.elapsed();
    println!("stuck delivery: redelivered {redelivered:?} after the new worker started");
    assert_eq!(held.delivered()[1], held.message);
    assert_drained(&held.api.store).await;
    gate.open();
    drop(second);
    held.stop().await;
}

#[actix_rt::test]
async fn a_draining_worker_keeps_its_partitions_until_it_is_done() {
    // A graceful stop may take longer than a lease lives (the defaults: 30 s shutdown timeout,
    // 10 s leases). While it drains, another worker must not take its partitions over and
    // redeliver what it is still delivering.
    let lease_ttl = test_config().worker.lease_ttl;
    let gate = Arc::new(Gate::default());
    let mut held = HeldDelivery::start("draining", Duration::from_secs(6), &gate).await;
    let owner = lease_holders(&held.api.store).await;
    assert!(owner.iter().all(Option::is_some), "{owner:?}");
    let asked = Instant::now();
    held.first.terminate();
    let second = held.second("draining-second");
    // The held request keeps the first worker draining; watch the leases for two lease
    // lifetimes while the second worker waits: no partition may change hands.
    holds_for(lease_ttl * 2, || async {
        let holders = lease_holders(&held.api.store).await;
        assert_eq!(
            holders,
            owner,
            "a partition changed hands {:?} into the drain",
            asked.elapsed()
        );
        assert_eq!(
            held.receiver.hits_on("/hook").len(),
            1,
            "redelivered mid-drain"
        );
    })
    .await;
    assert!(
        held.first.wait_exit(Duration::ZERO).await.is_none(),
        "the first worker exited before its delivery was done"
    );
    gate.open();
    let status = held.first.wait_exit(Duration::from_secs(8)).await;
    let took = asked.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "first worker still running; log:\n{}",
            held.first.log_tail()
        )
    });
    println!("draining worker exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    // The delivery was recorded before the exit: once the second worker holds every
    // partition and nothing is queued, nothing can be redelivered.
    eventually(WAIT, "the second worker holds every partition", || async {
        let holders = lease_holders(&held.api.store).await;
        holders.iter().all(|h| h.is_some()) && holders.iter().all(|h| *h != owner[0])
    })
    .await;
    assert_drained(&held.api.store).await;
    assert_eq!(
        held.delivered(),
        vec![held.message.clone()],
        "the message was redelivered while the first worker was still draining it"
    );
    drop(second);
    held.stop().await;
}

#[actix_rt::test]
async fn workers_joining_and_leaving_hand_partitions_over_without_loss() {
    // Paced endpoints (8 × 80/s) keep a backlog queued through both hand-overs. Small reads
    // keep that backlog in Redis rather than in the workers' memory, so a hand-over drains
    // little (a drain cut short by the shutdown timeout may legitimately redeliver).
    let setup = setup_with(json!({"rateLimit": 80})).await;
    let small_reads = [("OCTOHOOKS__QUEUE__BATCH_SIZE", "16")];
    let mut first = NodeProcess::worker_with(&setup.config, "scale-first", &small_reads);
    let backlog = setup.post_backlog();
    wait_delivered(
        &setup.seen,
        STOP_AFTER,
        DELIVER,
        "deliveries before scaling out",
    )
    .await;
    // Scale out: the partitions are shared between the two workers.
    let mut second = NodeProcess::worker_with(&setup.config, "scale-second", &small_reads);
    let owners = |count: usize| {
        let store = &setup.api.store;
        async move {
            let holders = lease_holders(store).await;
            let distinct: HashSet<&String> = holders.iter().flatten().collect();
            holders.iter().all(Option::is_some) && distinct.len() == count
        }
    };
    eventually(
        Duration::from_secs(15),
        "partitions shared by two workers",
        || owners(2),
    )
    .await;
    let shared_at = setup.seen.distinct();
    assert!(
        shared_at < MESSAGES,
        "everything was delivered before the hand-over"
    );
    // Scale in: the first worker leaves gracefully; the second takes everything.
    stop_gracefully(&mut first).await;
    eventually(
        Duration::from_secs(15),
        "one worker holds every partition",
        || owners(1),
    )
    .await;
    let single_at = setup.seen.distinct();
    let accepted = setup.post_backlog_result(backlog).await;
    let (lost, duplicates) = setup.settle(&accepted, &second).await;
    println!(
        "scale test: messages={MESSAGES} delivered_when_shared={shared_at} \
         delivered_when_alone_again={single_at} lost={lost} duplicates={duplicates}"
    );
    assert_eq!(lost, 0);
    assert_eq!(duplicates, 0, "graceful hand-overs must not redeliver");
    stop_gracefully(&mut second).await;
    setup.stop().await;
}
