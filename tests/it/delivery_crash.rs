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

use crate::delivery_support::assert_drained;
use crate::harness::{eventually, test_config, Receiver, Reply, TestServer};
use crate::process_support::{
    self, lease_holders, reconcile, stop_gracefully, wait_delivered, NodeProcess, Seen,
};

const MESSAGES: usize = 2_000;
const APPS: usize = 8;
const PARTITIONS: u16 = 4;
/// Deliveries after which the first worker is stopped.
const STOP_AFTER: usize = 500;
/// Concurrent API clients posting the backlog.
const POSTERS: usize = 16;

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
    let mut config = test_config();
    config.queue.partitions = PARTITIONS;
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let seen = Arc::new(Seen::default());
    let record = seen.clone();
    // Answers after 1–5 ms, so there is always work in flight when the worker dies.
    let receiver = Receiver::with(Arc::new(move |nth, hit| {
        record.record(hit);
        Reply::status(200).delay(Duration::from_millis(1 + (nth % 5) as u64))
    }));
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

/// Posts `MESSAGES` messages round-robin over the apps with `POSTERS` concurrent clients;
/// resolves to the ids of the accepted ones.
fn post_backlog(setup: &Setup) -> tokio::task::JoinHandle<Vec<String>> {
    post_messages(&setup.api, &setup.apps, MESSAGES)
}

/// Posts `count` messages round-robin over `apps` with `POSTERS` concurrent clients.
fn post_messages(
    api: &TestServer,
    apps: &[String],
    count: usize,
) -> tokio::task::JoinHandle<Vec<String>> {
    process_support::post_messages(
        &api.http,
        std::slice::from_ref(&api.base),
        &api.token,
        apps,
        count,
        POSTERS,
    )
}

/// Leases and live-node entries left under the prefix.
async fn ownership_keys(setup: &Setup) -> Vec<String> {
    process_support::ownership_keys(&setup.api.store).await
}

#[actix_rt::test]
async fn a_killed_worker_loses_no_message() {
    let setup = setup().await;
    let mut first = NodeProcess::worker(&setup.config, "first");
    let started = Instant::now();
    let backlog = post_backlog(&setup);
    wait_delivered(
        &setup.seen,
        STOP_AFTER,
        Duration::from_secs(60),
        "deliveries before the kill",
    )
    .await;
    first.kill();
    let killed = Instant::now();
    let at_kill = (setup.seen.distinct(), setup.seen.total());
    // Requests already on the wire land within a few ms; after that the count is frozen.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let frozen = setup.seen.total();
    let mut second = NodeProcess::worker(&setup.config, "second");
    let respawned = Instant::now();
    eventually(
        Duration::from_secs(30),
        "first delivery by the new worker",
        || async { setup.seen.total() > frozen },
    )
    .await;
    let resumed = respawned.elapsed();
    let accepted = backlog.await.expect("backlog posted");
    assert_eq!(accepted.len(), MESSAGES);
    let deadline = Duration::from_secs(60);
    let waited = Instant::now();
    while setup.seen.distinct() < MESSAGES || reconcile(&accepted, &setup.seen).0 > 0 {
        assert!(
            waited.elapsed() < deadline,
            "{} of {MESSAGES} messages delivered after {deadline:?}; new worker's log:\n{}",
            setup.seen.distinct(),
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let recovered = killed.elapsed();
    let (lost, duplicates) = reconcile(&accepted, &setup.seen);
    println!(
        "crash test (SIGKILL): messages={MESSAGES} delivered_before_kill={} \
         requests_before_kill={} lost={lost} duplicates={duplicates} \
         first_delivery_after_restart={resumed:?} all_delivered_after_kill={recovered:?} \
         total_run={:?}",
        at_kill.0,
        at_kill.1,
        started.elapsed()
    );
    assert_eq!(lost, 0, "messages lost");
    assert_drained(&setup.api.store, Duration::from_secs(10)).await;

    let took = stop_gracefully(&mut second).await;
    println!("crash test: second worker stopped in {took:?} after SIGTERM");
    let left = ownership_keys(&setup).await;
    assert!(left.is_empty(), "graceful stop left {left:?}");
    setup.api.shutdown().await;
    setup.receiver.stop().await;
}

#[actix_rt::test]
async fn a_terminated_worker_drains_and_hands_over() {
    let setup = setup().await;
    let mut first = NodeProcess::worker(&setup.config, "first");
    let backlog = post_backlog(&setup);
    wait_delivered(
        &setup.seen,
        STOP_AFTER,
        Duration::from_secs(60),
        "deliveries before SIGTERM",
    )
    .await;
    let took = stop_gracefully(&mut first).await;
    let at_stop = (setup.seen.distinct(), setup.seen.total());
    // A graceful stop gives every lease back and leaves the live set.
    let left = ownership_keys(&setup).await;
    assert!(left.is_empty(), "graceful stop left {left:?}");
    let frozen = setup.seen.total();
    let mut second = NodeProcess::worker(&setup.config, "second");
    let respawned = Instant::now();
    eventually(
        Duration::from_secs(30),
        "first delivery by the new worker",
        || async { setup.seen.total() > frozen },
    )
    .await;
    let resumed = respawned.elapsed();
    let accepted = backlog.await.expect("backlog posted");
    assert_eq!(accepted.len(), MESSAGES);
    let deadline = Duration::from_secs(60);
    let waited = Instant::now();
    while reconcile(&accepted, &setup.seen).0 > 0 {
        assert!(
            waited.elapsed() < deadline,
            "{} of {MESSAGES} messages delivered after {deadline:?}; new worker's log:\n{}",
            setup.seen.distinct(),
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (lost, duplicates) = reconcile(&accepted, &setup.seen);
    println!(
        "graceful test (SIGTERM): messages={MESSAGES} delivered_before_stop={} \
         requests_before_stop={} stop_took={took:?} lost={lost} duplicates={duplicates} \
         first_delivery_after_restart={resumed:?} all_delivered_after_restart={:?}",
        at_stop.0,
        at_stop.1,
        respawned.elapsed()
    );
    assert_eq!(lost, 0, "messages lost");
    // Leases were released, so the new worker need not wait for them to expire.
    assert!(
        resumed < Duration::from_secs(2),
        "new worker started delivering only after {resumed:?}"
    );
    // In-flight work was finished before exit, not left to be redone.
    assert_eq!(duplicates, 0, "a graceful stop must not cause redeliveries");
    assert_drained(&setup.api.store, Duration::from_secs(10)).await;
    stop_gracefully(&mut second).await;
    assert!(ownership_keys(&setup).await.is_empty());
    setup.api.shutdown().await;
    setup.receiver.stop().await;
}

#[actix_rt::test]
async fn fan_out_and_retries_survive_a_killed_worker() {
    // Each message goes to two endpoints (a stream entry acknowledged only when both are
    // done); one of them fails every first attempt, so retries sit in the retry set and move
    // back through the stream while the worker dies.
    const FAN_OUT_MESSAGES: usize = 1_000;
    const FAN_OUT_APPS: usize = 4;
    let mut config = test_config();
    config.queue.partitions = PARTITIONS;
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
        let id = hit.headers.get("webhook-id").cloned().unwrap_or_default();
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
    let worker_env = [("OCTOHOOKS__CIRCUIT__FAILURE_THRESHOLD", "1000000")];
    let mut first = NodeProcess::worker_with(&config, "fan-out-first", &worker_env);
    let backlog = post_messages(&api, &apps, FAN_OUT_MESSAGES);
    let delivered = || successes.lock().expect("successes").succeeded.len();
    eventually(
        Duration::from_secs(60),
        "deliveries before the kill",
        || async { delivered() >= STOP_AFTER },
    )
    .await;
    first.kill();
    let killed = Instant::now();
    let at_kill = delivered();
    let second = NodeProcess::worker_with(&config, "fan-out-second", &worker_env);
    let accepted = backlog.await.expect("backlog posted");
    assert_eq!(accepted.len(), FAN_OUT_MESSAGES);
    let deadline = Duration::from_secs(60);
    while delivered() < 2 * FAN_OUT_MESSAGES {
        assert!(
            killed.elapsed() < deadline,
            "{} of {} deliveries after {deadline:?}; new worker's log:\n{}",
            delivered(),
            2 * FAN_OUT_MESSAGES,
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let recovered = killed.elapsed();
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
    println!(
        "fan-out crash test (SIGKILL): messages={FAN_OUT_MESSAGES} deliveries_expected={} \
         delivered_before_kill={at_kill} lost={lost} duplicate_successes={duplicates} \
         all_delivered_after_kill={recovered:?}",
        2 * FAN_OUT_MESSAGES
    );
    assert_eq!(lost, 0, "deliveries lost");
    assert_drained(&api.store, Duration::from_secs(10)).await;
    drop(second);
    api.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_stuck_delivery_does_not_hold_up_a_graceful_stop() {
    // The receiver holds the first request far longer than the worker's shutdown timeout.
    let mut config = test_config();
    config.queue.partitions = PARTITIONS;
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let receiver = Receiver::with(Arc::new(|nth, _| {
        let reply = Reply::status(200);
        if nth == 0 {
            reply.delay(Duration::from_secs(8))
        } else {
            reply
        }
    }));
    let app = api.create_app("stuck").await;
    api.create_endpoint(&app, &format!("{}/stuck", receiver.url), json!({}))
        .await;
    let worker_env = [("OCTOHOOKS__SHUTDOWN__TIMEOUT", "2s")];
    let mut first = NodeProcess::worker_with(&config, "stuck-first", &worker_env);
    let message = api
        .send_message(&app, json!({"eventType": "x", "payload": {}}))
        .await;
    eventually(
        Duration::from_secs(10),
        "the delivery in flight",
        || async { receiver.hits_on("/stuck").len() == 1 },
    )
    .await;
    let asked = Instant::now();
    first.terminate();
    let status = first.wait_exit(Duration::from_secs(5)).await;
    let took = asked.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "worker still running 5 s after SIGTERM (shutdown timeout 2 s); log:\n{}",
            first.log_tail()
        )
    });
    println!("stuck delivery: worker exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        took < Duration::from_millis(3500),
        "exit took {took:?} with a 2 s shutdown timeout"
    );
    // Even when the drain times out, the leases go back: the next worker need not wait.
    let left = process_support::ownership_keys(&api.store).await;
    assert!(
        left.is_empty(),
        "stop after a timed-out drain left {left:?}"
    );
    let second = NodeProcess::worker_with(&config, "stuck-second", &worker_env);
    let respawned = Instant::now();
    eventually(
        Duration::from_secs(10),
        "redelivery by the new worker",
        || async { receiver.hits_on("/stuck").len() >= 2 },
    )
    .await;
    let redelivered = respawned.elapsed();
    println!("stuck delivery: redelivered {redelivered:?} after the new worker started");
    assert_eq!(receiver.hits_on("/stuck")[1].headers["webhook-id"], message);
    assert_drained(&api.store, Duration::from_secs(10)).await;
    drop(second);
    api.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_draining_worker_keeps_its_partitions_until_it_is_done() {
    // A graceful stop may take longer than a lease lives (the defaults: 30 s shutdown timeout,
    // 10 s leases). While it drains, another worker must not take its partitions over and
    // redeliver what it is still delivering.
    let mut config = test_config();
    config.queue.partitions = PARTITIONS;
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let receiver = Receiver::with(Arc::new(|nth, _| {
        let reply = Reply::status(200);
        if nth == 0 {
            reply.delay(Duration::from_secs(4))
        } else {
            reply
        }
    }));
    let app = api.create_app("draining").await;
    api.create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let worker_env = [("OCTOHOOKS__SHUTDOWN__TIMEOUT", "6s")];
    let mut first = NodeProcess::worker_with(&config, "draining-first", &worker_env);
    let message = api
        .send_message(&app, json!({"eventType": "x", "payload": {}}))
        .await;
    eventually(
        Duration::from_secs(10),
        "the delivery in flight",
        || async { receiver.hits_on("/hook").len() == 1 },
    )
    .await;
    let asked = Instant::now();
    first.terminate();
    let second = NodeProcess::worker_with(&config, "draining-second", &worker_env);
    let status = first.wait_exit(Duration::from_secs(8)).await;
    let took = asked.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("first worker still running; log:\n{}", first.log_tail()));
    println!("draining worker exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        took >= Duration::from_millis(3500),
        "exited after {took:?}, before its delivery finished"
    );
    // The new worker has everything now; give it time to (wrongly) redeliver.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_drained(&api.store, Duration::from_secs(10)).await;
    let ids: Vec<String> = receiver
        .hits_on("/hook")
        .iter()
        .map(|h| h.headers["webhook-id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![message],
        "the message was redelivered while the first worker was still draining it"
    );
    drop(second);
    api.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn workers_joining_and_leaving_hand_partitions_over_without_loss() {
    // Paced endpoints (8 × 80/s) keep a backlog queued through both hand-overs. Small reads
    // keep that backlog in Redis rather than in the workers' memory, so a hand-over drains
    // little (a drain cut short by the shutdown timeout may legitimately redeliver).
    let setup = setup_with(json!({"rateLimit": 80})).await;
    let small_reads = [("OCTOHOOKS__QUEUE__BATCH_SIZE", "16")];
    let mut first = NodeProcess::worker_with(&setup.config, "scale-first", &small_reads);
    let backlog = post_backlog(&setup);
    wait_delivered(
        &setup.seen,
        STOP_AFTER,
        Duration::from_secs(60),
        "deliveries before scaling out",
    )
    .await;
    // Scale out: the partitions are shared between the two workers.
    let mut second = NodeProcess::worker_with(&setup.config, "scale-second", &small_reads);
    eventually(
        Duration::from_secs(15),
        "partitions shared by two workers",
        || async {
            let holders = lease_holders(&setup.api.store).await;
            let distinct: HashSet<&String> = holders.iter().flatten().collect();
            holders.iter().all(Option::is_some) && distinct.len() == 2
        },
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
        || async {
            let holders = lease_holders(&setup.api.store).await;
            let distinct: HashSet<&String> = holders.iter().flatten().collect();
            holders.iter().all(Option::is_some) && distinct.len() == 1
        },
    )
    .await;
    let single_at = setup.seen.distinct();
    let accepted = backlog.await.expect("backlog posted");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reconcile(&accepted, &setup.seen).0 > 0 {
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} delivered; log:\n{}",
            setup.seen.distinct(),
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (lost, duplicates) = reconcile(&accepted, &setup.seen);
    println!(
        "scale test: messages={MESSAGES} delivered_when_shared={shared_at} \
         delivered_when_alone_again={single_at} lost={lost} duplicates={duplicates}"
    );
    assert_eq!(lost, 0);
    assert_eq!(duplicates, 0, "graceful hand-overs must not redeliver");
    assert_drained(&setup.api.store, Duration::from_secs(10)).await;
    stop_gracefully(&mut second).await;
    assert!(ownership_keys(&setup).await.is_empty());
    setup.api.shutdown().await;
    setup.receiver.stop().await;
}
