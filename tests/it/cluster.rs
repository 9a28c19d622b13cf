//! Horizontal scaling with the real binary: two `octohooks api` and three (or four)
//! `octohooks worker` subprocesses share one Redis and one key prefix. Partitions must be
//! spread evenly, a worker killed with SIGKILL must have its partitions taken over within the
//! lease lifetime, a joining worker must take its share, nothing may be lost, a rate limit
//! must hold cluster-wide, and an Idempotency-Key must hold across API nodes. Figures are
//! printed; run with `--nocapture` to see them.
//!
//! The tests of this module run one at a time (they start five to six processes each on a
//! shared machine, and measure times).

use std::cell::Cell;
use std::time::{Duration, Instant};

use octohooks::clock::now_ms;
use serde_json::json;
use uuid::Uuid;

use crate::support::deployment::{
    cli_ownership, even, wait_all_delivered, Deployment, DELIVER, LEASE_TTL, SERIAL,
};
use crate::support::ledger::{in_flight_bound, reconcile, wait_delivered};
use crate::support::measure::{offsets, window_counts};
use crate::support::queue::assert_drained;
use crate::support::server::test_config;
use crate::support::wait::poll_until;

const PARTITIONS: u16 = 12;
const APPS: usize = 100;
const MESSAGES: usize = 10_000;
/// How long the waits for an even spread poll before giving up (the bounds asserted are
/// [`REBALANCE`] and [`TAKEOVER`]).
const SETTLE: Duration = Duration::from_secs(20);
/// Bound on reaching an even spread after a start or a join: owners drain what they read of
/// the partitions they give up (under a backlog, up to a read window of deliveries each),
/// release them, and the newcomer takes them on its next heartbeat (300 ms); no lease has to
/// lapse. Seen: 0.2–1.5 s idle, up to 2.9 s with the machine saturated; three lease lifetimes
/// leave room for that twice over.
const REBALANCE: Duration = Duration::from_secs(6);
/// Bound on a killed worker's partitions being owned again (and spread evenly), counted from
/// when its leases lapsed: the survivors take them on their next heartbeat (300 ms); one
/// lease lifetime leaves room for a loaded machine.
const TAKEOVER: Duration = LEASE_TTL;
/// `apis` API nodes and `workers` worker nodes on the run's Redis, with [`PARTITIONS`].
async fn start(apis: usize, workers: usize) -> Deployment {
    let mut config = test_config();
    config.queue.partitions = PARTITIONS;
    Deployment::start(config, apis, workers).await
}

/// How long after `killed` the leases `node` holds lapse (read right after the kill:
/// a dead node renews nothing).
async fn leases_lapse(cluster: &Deployment, node: &str, killed: Instant) -> Duration {
    let status = cluster.status().await;
    let keys = &cluster.store.db.keys;
    let mut conn = cluster.store.conn().await.expect("conn");
    let mut longest: i64 = 0;
    for p in status
        .partitions
        .iter()
        .filter(|p| p.owner.as_deref() == Some(node))
    {
        let left: i64 = redis::cmd("PTTL")
            .arg(keys.lease(p.partition))
            .query_async(&mut conn)
            .await
            .expect("pttl");
        longest = longest.max(left);
    }
    killed.elapsed() + Duration::from_millis(longest.max(0) as u64)
}

#[actix_rt::test]
async fn three_workers_and_two_apis_spread_partitions_evenly_and_deliver_everything() {
    let _serial = SERIAL.lock().await;
    let cluster = start(2, 3).await;
    let apps = cluster.apps_with_endpoints(APPS, json!({})).await;
    let (settled, _) = cluster.wait_even(SETTLE).await;
    assert!(
        settled <= REBALANCE,
        "even spread only {settled:?} after the start"
    );
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
    let accepted = cluster.post(&apps, MESSAGES).await.expect("backlog posted");
    let posted = started.elapsed();
    assert_eq!(accepted.len(), MESSAGES);
    let (lost, duplicates) = wait_all_delivered(&accepted, &cluster).await;
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
    cluster.shutdown().await;
}

/// Polls the cluster after `dead` was killed until none of its partitions is left unowned
/// or owned by it; returns (takeover time, when it left the live set), both from `killed`.
async fn wait_takeover(cluster: &Deployment, dead: &str, killed: Instant) -> (Duration, Duration) {
    let left_live: Cell<Option<Duration>> = Cell::new(None);
    let (at, _) = poll_until(
        LEASE_TTL + Duration::from_secs(10),
        "the dead node's partitions owned by the others",
        || async {
            let status = cluster.status().await;
            let at = killed.elapsed();
            if left_live.get().is_none() && !status.nodes.contains_key(dead) {
                left_live.set(Some(at));
            }
            let orphaned: Vec<u16> = status
                .partitions
                .iter()
                .filter(|p| p.owner.as_deref().is_none_or(|o| o == dead))
                .map(|p| p.partition)
                .collect();
            (at, orphaned)
        },
        |(_, orphaned)| orphaned.is_empty(),
    )
    .await;
    (at, left_live.get().unwrap_or(at))
}

#[actix_rt::test]
async fn a_killed_worker_loses_nothing_and_its_partitions_are_taken_over_once_its_leases_lapse() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start(2, 3).await;
    let apps = cluster.apps_with_endpoints(APPS, json!({})).await;
    let (_, before) = cluster.wait_even(SETTLE).await;
    // Two halves: the kill lands in the middle of the first, the replacement worker joins in
    // the middle of the second.
    let half = MESSAGES / 2;
    let first = cluster.post(&apps, half);
    wait_delivered(
        &cluster.seen,
        half / 3,
        DELIVER,
        "deliveries before the kill",
    )
    .await;
    let victim = &mut cluster.workers[1];
    victim.process.kill();
    let killed = Instant::now();
    let dead = victim.id.clone();
    let lapse = leases_lapse(&cluster, &dead, killed).await;
    let at_kill = cluster.seen.distinct();
    // What the victim served: its partitions and the endpoints (one per application) in them.
    let victim_partitions = &before[&dead];
    let victim_endpoints = apps
        .iter()
        .filter(|app| {
            let app = Uuid::parse_str(app).expect("uuid");
            victim_partitions.contains(&cluster.store.db.keys.partition_of(app))
        })
        .count();
    let (takeover, left_live) = wait_takeover(&cluster, &dead, killed).await;
    let (_, two) = cluster.wait_even(SETTLE).await;
    let rebalanced = killed.elapsed();
    println!(
        "cluster kill -9: delivered_before_kill={at_kill} dead_node_left_live_set_after={left_live:?} \
         leases_lapsed_after={lapse:?} takeover={takeover:?} (lease_ttl={LEASE_TTL:?}) \
         even_over_2_after={rebalanced:?} {}",
        cluster.describe(&two)
    );
    assert!(
        rebalanced <= lapse + TAKEOVER,
        "the dead node's partitions were owned again (evenly) only {rebalanced:?} after the \
         kill, {lapse:?} after which its leases lapsed"
    );
    let mut accepted = first.await.expect("first half posted");
    let second = cluster.post(&apps, half);
    wait_delivered(
        &cluster.seen,
        half + half / 3,
        DELIVER,
        "deliveries before the join",
    )
    .await;
    let at_join = cluster.seen.distinct();
    let joined = Instant::now();
    cluster.add_worker().await;
    let (_, three) = cluster.wait_even(SETTLE).await;
    let settled = joined.elapsed();
    assert!(
        settled <= REBALANCE,
        "even spread only {settled:?} after the join"
    );
    println!(
        "cluster replacement join: delivered_before_join={at_join} even_over_3_after={settled:?} {}",
        cluster.describe(&three)
    );
    accepted.extend(second.await.expect("second half posted"));
    assert_eq!(accepted.len(), MESSAGES);
    let (lost, duplicates) = wait_all_delivered(&accepted, &cluster).await;
    // Only the victim's requests under way at the kill can be delivered twice (the join
    // hands partitions over gracefully).
    let bound = in_flight_bound(&cluster.config, victim_endpoints, victim_partitions.len());
    println!(
        "cluster kill -9 and join: messages={MESSAGES} lost={lost} duplicates={duplicates} \
         (bound {bound}) requests={}",
        cluster.seen.total()
    );
    assert_eq!(lost, 0, "messages lost");
    assert!(
        duplicates <= bound,
        "{duplicates} redeliveries; at most {bound} requests can have been in flight"
    );
    assert_drained(&cluster.store).await;
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn a_fourth_worker_takes_its_share_and_nothing_is_lost() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start(2, 3).await;
    let apps = cluster.apps_with_endpoints(APPS, json!({})).await;
    let (_, before) = cluster.wait_even(SETTLE).await;
    let backlog = cluster.post(&apps, MESSAGES);
    wait_delivered(
        &cluster.seen,
        MESSAGES / 3,
        DELIVER,
        "deliveries before the join",
    )
    .await;
    let at_join = cluster.seen.distinct();
    let joined = Instant::now();
    let newcomer = cluster.add_worker().await.id.clone();
    let (_, after) = cluster.wait_even(SETTLE).await;
    let settled = joined.elapsed();
    assert!(
        settled <= REBALANCE,
        "even spread only {settled:?} after the join"
    );
    println!(
        "cluster join: before {} | delivered_before_join={at_join} even_over_4_after={settled:?} \
         after {}",
        cluster.describe(&before),
        cluster.describe(&after)
    );
    assert_eq!(after[&newcomer].len(), usize::from(PARTITIONS) / 4);
    let accepted = backlog.await.expect("backlog posted");
    assert_eq!(accepted.len(), MESSAGES);
    let (lost, duplicates) = wait_all_delivered(&accepted, &cluster).await;
    println!(
        "cluster join: messages={MESSAGES} lost={lost} duplicates={duplicates} requests={}",
        cluster.seen.total()
    );
    assert_eq!(lost, 0, "messages lost");
    // Partitions moved by draining and releasing them: nothing is delivered twice.
    assert_eq!(duplicates, 0, "a graceful hand-over redelivered");
    assert_drained(&cluster.store).await;
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn a_rate_limit_holds_cluster_wide_through_a_hand_over() {
    const RATE: usize = 20;
    const PACED: usize = 300;
    /// Extra deliveries allowed in a window around the hand-over: the new owner's limiter
    /// starts afresh and may admit one request right after the old owner's last one.
    const HAND_OVER_ALLOWANCE: usize = 1;
    let _serial = SERIAL.lock().await;
    let mut cluster = start(2, 3).await;
    let apps = cluster
        .apps_with_endpoints(1, json!({"rateLimit": RATE}))
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
    let backlog = cluster.post(&apps, PACED);
    wait_delivered(
        &cluster.seen,
        PACED / 3,
        DELIVER,
        "paced deliveries before the hand-over",
    )
    .await;
    // The owner of the paced endpoint's partition stops gracefully mid-flow. It holds about
    // 200 paced jobs (10 s of work), so its drain is cut short by the shutdown timeout; it
    // then releases the lease and another worker re-reads what is left: a real hand-over,
    // with the old and the new owner's deliveries close together.
    let at_stop = cluster.seen.distinct();
    let index = cluster
        .workers
        .iter()
        .position(|w| w.id == owner)
        .expect("owner is a worker");
    let victim = &mut cluster.workers[index];
    let stopping = Instant::now();
    victim.process.terminate();
    let new_owner = poll_until(
        Duration::from_secs(15),
        &format!("partition {partition} taken over"),
        || async {
            cluster.status().await.partitions[usize::from(partition)]
                .owner
                .clone()
                .filter(|o| *o != owner)
        },
        Option::is_some,
    )
    .await
    .expect("a new owner");
    let acquired = Instant::now();
    let victim = &mut cluster.workers[index];
    let exit = victim.process.wait_exit(Duration::from_secs(10)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "stopping worker: {exit:?}; log:\n{}",
        victim.process.log_tail()
    );
    let accepted = backlog.await.expect("backlog posted");
    let (lost, duplicates) = wait_all_delivered(&accepted, &cluster).await;
    // Deliveries per one-second window `[t, t + 1 s)` starting at each delivery, apart for
    // the windows that overlap the hand-over (from the stop to a second after the new owner
    // took the lease) and the others.
    let origin = started.min(stopping);
    let times = offsets(cluster.receiver.hits().iter().map(|h| h.at), origin);
    let second = Duration::from_secs(1);
    let hand_over = (
        stopping.duration_since(origin),
        (acquired + second).duration_since(origin),
    );
    let overlaps = |from: Duration| from <= hand_over.1 && hand_over.0 < from + second;
    let windows = window_counts(&times, second);
    let busiest = |keep: &dyn Fn(Duration) -> bool| {
        windows
            .iter()
            .filter(|(from, _)| keep(*from))
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    };
    let steady = busiest(&|from| !overlaps(from));
    let around = busiest(&overlaps);
    let span = times.iter().max().copied().unwrap_or_default()
        - times.iter().min().copied().unwrap_or_default();
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
    assert_drained(&cluster.store).await;
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn one_idempotency_key_sent_to_both_api_nodes_at_once_runs_once() {
    const REQUESTS: usize = 10;
    let _serial = SERIAL.lock().await;
    let cluster = start(2, 1).await;
    let key = [("idempotency-key", "cluster-race-app")];
    // Applications: ten identical creations, split over the two API nodes, all in flight.
    let body = json!({"name": "raced"});
    let (answers, originals) = cluster
        .race(REQUESTS, "/api/v1/applications", body, &key, 201)
        .await;
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
    let endpoint = json!({"name": "e", "url": format!("{}/raced", cluster.receiver.url)});
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
    let (answers, originals) = cluster.race(REQUESTS, &path, message, &key, 202).await;
    assert_eq!(originals, 1, "exactly one request ran: {answers:?}");
    let listed = cluster.call(1, "GET", &path, None, &[]).await;
    assert_eq!(
        listed.body.as_array().map_or(0, Vec::len),
        1,
        "{:?}",
        listed.body
    );
    let id = answers[0].body["id"].as_str().expect("id").to_string();
    wait_delivered(
        &cluster.seen,
        1,
        Duration::from_secs(10),
        "the raced message",
    )
    .await;
    // Drained: the delivery was recorded and acknowledged; no other can come.
    assert_drained(&cluster.store).await;
    let (lost, duplicates) = reconcile(std::slice::from_ref(&id), &cluster.seen);
    println!(
        "cluster idempotency (messages): requests={REQUESTS} originals={originals} \
         messages_created=1 deliveries={} lost={lost} duplicates={duplicates}",
        cluster.seen.total()
    );
    assert_eq!((lost, duplicates), (0, 0));
    cluster.shutdown().await;
}

#[actix_rt::test]
async fn cluster_status_forgets_a_killed_worker_once_its_lease_ttl_has_passed() {
    // With no other worker left to evict it from the live set, the status command itself
    // must not report a dead node as live.
    let _serial = SERIAL.lock().await;
    let mut cluster = start(0, 1).await;
    cluster.wait_even(SETTLE).await;
    let worker = &mut cluster.workers[0];
    worker.process.kill();
    let dead = worker.id.clone();
    // When the dead node's last traces lapse: its last heartbeat plus the lease lifetime
    // (then it is no longer live), and its leases' own expiry (then it owns nothing).
    let keys = &cluster.store.db.keys;
    let mut conn = cluster.store.conn().await.expect("conn");
    let beat: i64 = redis::cmd("ZSCORE")
        .arg(keys.nodes())
        .arg(&dead)
        .query_async(&mut conn)
        .await
        .expect("the dead node's last heartbeat");
    let mut lapses = beat + LEASE_TTL.as_millis() as i64;
    for p in 0..keys.partitions() {
        let left: i64 = redis::cmd("PTTL")
            .arg(keys.lease(p))
            .query_async(&mut conn)
            .await
            .expect("pttl");
        lapses = lapses.max(now_ms() + left);
    }
    // Polls `cluster status`; every call that started after the traces lapsed (with 100 ms
    // for clock reading differences) must show nothing.
    let last_listed = Cell::new(i64::MIN);
    let (gone, _) = poll_until(
        Duration::from_millis((lapses - now_ms()).max(0) as u64) + Duration::from_secs(10),
        "`cluster status` without the killed worker",
        || async {
            let asked = now_ms();
            let status = cluster.status_cli();
            let nodes = status["nodes"].as_object().map_or(0, |n| n.len());
            let listed = nodes > 0 || !cli_ownership(&status).is_empty();
            if listed {
                last_listed.set(asked);
            }
            (asked, listed)
        },
        |(_, listed)| !listed,
    )
    .await;
    println!(
        "cluster status: killed worker last listed by a call {} ms before its lease TTL lapsed, \
         gone from a call {} ms after",
        lapses - last_listed.get(),
        gone - lapses
    );
    assert!(
        last_listed.get() <= lapses + 100,
        "`cluster status` still showed the killed worker {} ms after its lease TTL lapsed",
        last_listed.get() - lapses
    );
}
