//! Chaos: the at-least-once promise under real faults, with real processes. Redis (AOF
//! `everysec`) stopped and restarted mid-load, Redis full (`noeviction`), connections to Redis
//! cut at random by a TCP proxy, a worker frozen (SIGSTOP) past its lease and resumed, a worker
//! killed (SIGKILL) mid-delivery, and an application deleted by a client that hangs up at once.
//!
//! Each scenario counts: messages accepted (a steady poster retries every message with its own
//! `Idempotency-Key` until it gets a 202, so each accepted id is exactly one message), lost
//! (accepted, never delivered successfully), duplicated (delivered successfully more than once)
//! and the time to recover; the figures are printed (`--nocapture`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octohooks::config::Config;
use octohooks::runtime::Roles;
use serde_json::json;

use crate::support::api::id_of;
use crate::support::ledger::{in_flight_bound, settle, wait_none_lost, Seen};
use crate::support::load::{Posted, Poster};
use crate::support::measure::percentile;
use crate::support::own_redis::OwnRedis;
use crate::support::process::{lease_holders, NodeProcess};
use crate::support::proxy::Proxy;
use crate::support::queue::{assert_drained, depth};
use crate::support::receiver::{Gauge, Hit, Receiver, Reply};
use crate::support::redis_server::redis_url;
use crate::support::server::{test_config, TestServer};
use crate::support::wait::{eventually, poll_until, WAIT};
use octohooks::store::Store;

const PARTITIONS: u16 = 4;
const APPS: usize = 8;
/// How long a fault scenario may take to deliver everything once the fault is over.
const RECOVER: Duration = Duration::from_secs(90);

/// Worker settings of these tests: a circuit that never opens (every first attempt fails on
/// purpose) and pending entries reclaimed within seconds (the defaults, 30 s idle checked every
/// 10 s, bound recovery at ~40 s; the README documents both).
const WORKER_ENV: [(&str, &str); 4] = [
    ("OCTOHOOKS__CIRCUIT__FAILURE_THRESHOLD", "1000000"),
    ("OCTOHOOKS__DELIVERY__TIMEOUT", "2s"),
    ("OCTOHOOKS__QUEUE__RECLAIM_IDLE", "3s"),
    ("OCTOHOOKS__QUEUE__RECLAIM_INTERVAL", "1s"),
];

/// The test configuration on `redis_url` with this module's partition count.
fn config_on(redis_url: String) -> Config {
    let mut config = test_config();
    config.redis.url = redis_url;
    config.queue.partitions = PARTITIONS;
    config
}

/// A receiver that refuses the first attempt of every message (500) and accepts the later
/// ones, so every message has a retry chain through the faults; counts hits per `webhook-id`.
#[derive(Default)]
struct FirstFails {
    hits: Mutex<HashMap<String, usize>>,
}

impl FirstFails {
    fn receiver(self: &Arc<Self>) -> Receiver {
        let ledger = self.clone();
        Receiver::with(Arc::new(move |nth, hit: &Hit| {
            let mut hits = ledger.hits.lock().expect("hits");
            let count = hits.entry(hit.webhook_id().to_string()).or_insert(0);
            *count += 1;
            let status = if *count == 1 { 500 } else { 200 };
            Reply::status(status).delay(Duration::from_millis(1 + (nth % 3) as u64))
        }))
    }

    /// Messages delivered successfully (a second hit is a success).
    fn delivered(&self) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .values()
            .filter(|&&h| h >= 2)
            .count()
    }

    /// (lost, duplicates) of the accepted ids: lost never succeeded, duplicates are successes
    /// beyond the first. Fails on a delivery of an id that was never accepted.
    fn reconcile(&self, accepted: &[String]) -> (usize, usize) {
        let hits = self.hits.lock().expect("hits");
        let known: std::collections::HashSet<&String> = accepted.iter().collect();
        let unknown: Vec<&String> = hits.keys().filter(|id| !known.contains(id)).collect();
        assert!(
            unknown.is_empty(),
            "deliveries of unknown messages: {unknown:?}"
        );
        let lost = accepted
            .iter()
            .filter(|id| hits.get(*id).copied().unwrap_or(0) < 2)
            .count();
        let duplicates = hits.values().map(|h| h.saturating_sub(2)).sum();
        (lost, duplicates)
    }

    /// Waits until every accepted message was delivered successfully.
    async fn wait_all(&self, accepted: &[String], logs: impl Fn() -> String) {
        let lost = || self.reconcile(accepted).0;
        wait_none_lost(accepted.len(), RECOVER, lost, logs).await;
    }
}

/// Waits until `store`'s connection answers again (a command on a connection Redis dropped
/// fails once before it reconnects), then until every queue is drained.
async fn assert_drained_after_fault(store: &Store) {
    eventually(WAIT, "the test's connection to Redis answers", || async {
        let Ok(mut conn) = store.conn().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    })
    .await;
    assert_drained(store).await;
}

/// `count` applications with one endpoint each on `receiver`.
async fn apps_on(api: &TestServer, receiver: &Receiver, count: usize) -> Vec<String> {
    let mut apps = Vec::new();
    for i in 0..count {
        let app = api.create_app(&format!("chaos-{i}")).await;
        api.create_endpoint(&app, &format!("{}/e{i}", receiver.url), json!({}))
            .await;
        apps.push(app);
    }
    apps
}

/// Checks the poster's answers and the ledger, prints the scenario's figures.
fn report(
    scenario: &str,
    posted: &Posted,
    ledger: &FirstFails,
    allowed: &[&str],
    extra: String,
) -> (usize, usize) {
    let (lost, duplicates) = ledger.reconcile(&posted.accepted);
    println!(
        "chaos {scenario}: accepted={} lost={lost} duplicates={duplicates} answers={:?} {extra}",
        posted.accepted.len(),
        posted.answers
    );
    assert_eq!(
        posted.unexpected(allowed),
        BTreeMap::new(),
        "{scenario}: answers other than {allowed:?}"
    );
    assert_eq!(lost, 0, "{scenario}: accepted messages lost");
    (lost, duplicates)
}

/// Redis stopped for `outage` in the middle of a steady load whose first attempts all fail,
/// then restarted from its AOF: every accepted message is delivered, nothing stays pending,
/// and the API answered only 202 or 503.
async fn redis_outage(outage: Duration, count: usize) {
    let rate = 200.0;
    let mut redis = OwnRedis::start().await;
    let config = config_on(redis.url());
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let ledger = Arc::new(FirstFails::default());
    let receiver = ledger.receiver();
    let apps = apps_on(&api, &receiver, APPS).await;
    let worker = NodeProcess::worker_with(&config, "outage", &WORKER_ENV);
    let poster = Poster::start(&api.base, &api.token, &apps, 0..count, rate);
    eventually(WAIT * 3, "deliveries before the outage", || async {
        ledger.delivered() >= 100
    })
    .await;
    redis.stop();
    let at_stop = (poster.accepted(), ledger.delivered());
    // The fault's length, chosen by the scenario (not a wait for an event).
    tokio::time::sleep(outage).await;
    redis.restart().await;
    let restarted = Instant::now();
    let posted = poster.finish().await;
    ledger
        .wait_all(&posted.accepted, || worker.log_tail())
        .await;
    let delivered_after = restarted.elapsed();
    assert_drained_after_fault(&api.store).await;
    let drained_after = restarted.elapsed();
    let bound = in_flight_bound(&config, APPS, usize::from(PARTITIONS));
    let (_, duplicates) = report(
        &format!("redis stopped {outage:?}"),
        &posted,
        &ledger,
        &["202", "503 unavailable"],
        format!(
            "accepted_before_stop={} delivered_before_stop={} all_delivered_after_restart={:?} \
             nothing_pending_after_restart={:?}",
            at_stop.0, at_stop.1, delivered_after, drained_after
        ),
    );
    assert_eq!(posted.accepted.len(), count);
    assert!(
        posted.count("503 unavailable") > 0,
        "the outage was seen by the API"
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates, bound {bound}"
    );
    drop(worker);
    api.shutdown().await;
}

#[actix_rt::test]
async fn redis_stopped_for_2_s_mid_load_loses_nothing() {
    redis_outage(Duration::from_secs(2), 1_000).await;
}

#[actix_rt::test]
async fn redis_stopped_for_15_s_mid_load_loses_nothing() {
    redis_outage(Duration::from_secs(15), 1_500).await;
}

/// Polls until the lease holders of the partitions (node ids, by partition) satisfy `check`.
async fn wait_holders(api: &TestServer, what: &str, check: impl Fn(&[Option<String>]) -> bool) {
    eventually(WAIT * 2, what, || async {
        check(&lease_holders(&api.store).await)
    })
    .await;
}

#[actix_rt::test]
async fn a_worker_frozen_past_its_lease_starts_no_second_retry_chain() {
    let config = config_on(redis_url());
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let ledger = Arc::new(FirstFails::default());
    let receiver = ledger.receiver();
    let apps = apps_on(&api, &receiver, APPS).await;
    let frozen = NodeProcess::worker_with(&config, "frozen", &WORKER_ENV);
    wait_holders(&api, "the first worker holds every partition", |h| {
        h.iter().all(Option::is_some)
    })
    .await;
    let frozen_id = lease_holders(&api.store).await[0].clone();
    let other = NodeProcess::worker_with(&config, "other", &WORKER_ENV);
    wait_holders(&api, "both workers hold partitions", |h| {
        h.iter().all(Option::is_some) && h.iter().any(|n| *n != frozen_id) && h.contains(&frozen_id)
    })
    .await;
    let count = 1_500;
    let poster = Poster::start(&api.base, &api.token, &apps, 0..count, 250.0);
    eventually(WAIT * 3, "deliveries before the freeze", || async {
        ledger.delivered() >= 200
    })
    .await;
    frozen.freeze();
    let froze = Instant::now();
    wait_holders(&api, "the other worker took every partition", |h| {
        h.iter().all(|n| n.is_some() && *n != frozen_id)
    })
    .await;
    let taken_over = froze.elapsed();
    let at_take_over = ledger.delivered();
    eventually(WAIT * 3, "deliveries by the other worker alone", || async {
        ledger.delivered() >= at_take_over + 200
    })
    .await;
    frozen.thaw();
    let posted = poster.finish().await;
    ledger
        .wait_all(&posted.accepted, || {
            format!("{}\n---\n{}", frozen.log_tail(), other.log_tail())
        })
        .await;
    assert_drained(&api.store).await;
    // No second chain: every message has exactly one recorded success and at most one
    // recorded failure (its refused first attempt), whoever made them.
    let mut chains = BTreeMap::new();
    for (n, id) in posted.accepted.iter().enumerate() {
        let attempts = api.attempts(&apps[n % apps.len()], id).await;
        let statuses: Vec<&str> = attempts
            .iter()
            .map(|a| a["status"].as_str().unwrap_or(""))
            .collect();
        let success = statuses.iter().filter(|s| **s == "success").count();
        let failed = statuses.len() - success;
        *chains.entry((success, failed)).or_insert(0usize) += 1;
    }
    let bound = in_flight_bound(&config, APPS, usize::from(PARTITIONS));
    let (_, duplicates) = report(
        "worker frozen past its lease",
        &posted,
        &ledger,
        &["202"],
        format!("take_over_after={taken_over:?} recorded_(successes,failures)={chains:?}"),
    );
    assert!(
        chains
            .keys()
            .all(|&(success, failed)| success == 1 && failed <= 1),
        "messages with a second chain: {chains:?}"
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates: more than the {bound} requests in flight at the freeze"
    );
    drop((frozen, other));
    api.shutdown().await;
}

/// `used_memory` of a Redis server.
async fn used_memory(redis: &OwnRedis) -> u64 {
    let info: String = redis.cmd(redis::cmd("INFO").arg("memory")).await;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO")
}

#[actix_rt::test]
async fn a_full_redis_answers_503_and_delivery_resumes_once_memory_is_freed() {
    let redis = OwnRedis::start().await;
    let config = config_on(redis.url());
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let ledger = Arc::new(FirstFails::default());
    let receiver = ledger.receiver();
    let apps = apps_on(&api, &receiver, APPS).await;
    let worker = NodeProcess::worker_with(&config, "full", &WORKER_ENV);
    let mut accepted = Poster::start(&api.base, &api.token, &apps, 0..200, 500.0)
        .finish()
        .await
        .accepted;

    // Redis is full: little room left under maxmemory, and 8 KB payloads fill it.
    let limit = used_memory(&redis).await + 256 * 1024;
    let _: () = redis
        .cmd(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(limit))
        .await;
    let filler = "x".repeat(8 * 1024);
    let mut refused = None;
    for n in 0..2_000 {
        let answer = api
            .call(
                "POST",
                &format!("/api/v1/applications/{}/messages", apps[n % APPS]),
                Some(json!({"eventType": "fill", "payload": {"fill": filler}})),
            )
            .await;
        match answer.status {
            202 => accepted.push(id_of(&answer.body)),
            _ => {
                refused = Some(answer);
                break;
            }
        }
    }
    let refused = refused.expect("a full Redis refused a message");
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.code(), "unavailable");
    assert!(refused.headers.contains_key("retry-after"));
    // Reads still work on a full Redis.
    assert_eq!(api.get("/api/v1/applications").await.status, 200);

    let _: () = redis
        .cmd(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0))
        .await;
    let freed = Instant::now();
    let after = Poster::start(&api.base, &api.token, &apps, 200..400, 500.0)
        .finish()
        .await;
    accepted.extend(after.accepted.iter().cloned());
    ledger.wait_all(&accepted, || worker.log_tail()).await;
    let recovered = freed.elapsed();
    assert_drained_after_fault(&api.store).await;
    let (lost, duplicates) = ledger.reconcile(&accepted);
    println!(
        "chaos redis full: accepted={} lost={lost} duplicates={duplicates} \
         all_delivered_after_memory_freed={recovered:?} answers_after={:?}",
        accepted.len(),
        after.answers
    );
    assert_eq!(lost, 0);
    drop(worker);
    api.shutdown().await;
}

#[actix_rt::test]
async fn connections_to_redis_cut_at_random_lose_nothing() {
    let shared = redis_url();
    let target = shared
        .strip_prefix("redis://")
        .expect("redis url")
        .parse()
        .expect("redis address");
    let proxy = Proxy::start(target);
    let config = config_on(shared);
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let mut proxied = config.clone();
    proxied.redis.url = proxy.url();
    let ledger = Arc::new(FirstFails::default());
    let receiver = ledger.receiver();
    let apps = apps_on(&api, &receiver, APPS).await;
    let api_node = NodeProcess::api(&proxied, "cut-api", &[]);
    let worker = NodeProcess::worker_with(&proxied, "cut-worker", &WORKER_ENV);
    let count = 1_500;
    let poster = Poster::start(&api_node.base, &api.token, &apps, 0..count, 250.0);
    let mut cuts = 0;
    let mut cut_connections = 0;
    let started = Instant::now();
    while poster.accepted() < count {
        let pause = rand::random_range(100..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        cut_connections += proxy.cut();
        cuts += 1;
    }
    let posted = poster.finish().await;
    let cut_for = started.elapsed();
    ledger
        .wait_all(&posted.accepted, || {
            format!("{}\n---\n{}", api_node.log_tail(), worker.log_tail())
        })
        .await;
    assert_drained(&api.store).await;
    report(
        "redis connections cut",
        &posted,
        &ledger,
        &["202", "503 unavailable", "409 idempotency_key_in_progress"],
        format!(
            "cuts={cuts} connections_cut={cut_connections} reconnections={} over={cut_for:?}",
            proxy.accepted()
        ),
    );
    assert!(
        cuts >= 3 && cut_connections > 0,
        "the proxy cut connections"
    );
    drop((api_node, worker));
    api.shutdown().await;
}

#[actix_rt::test]
async fn a_killed_worker_redelivers_only_what_was_in_flight() {
    // The scenario: 2,000 messages to 20 endpoints answering in 5 ms, posted at a
    // steady 400/s, the worker SIGKILLed a quarter of the way. A request in flight at the
    // kill (sent, or answered but not yet recorded) must be sent again: that is the
    // at-least-once promise, and by Little's law there are about rate × latency of them.
    // Work finished before that is acknowledged in the script recording it, so it is never
    // sent again.
    const MESSAGES: usize = 2_000;
    const ENDPOINTS: usize = 20;
    /// Work older than this at the kill was finished, not in flight.
    const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(1);
    let config = config_on(redis_url());
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let seen = Arc::new(Seen::default());
    let gauge = Arc::new(Gauge::default());
    let (record, count) = (seen.clone(), gauge.clone());
    let receiver = Receiver::with(Arc::new(move |_, hit: &Hit| {
        record.record(hit);
        Reply::status(200)
            .delay(Duration::from_millis(5))
            .on_done(count.enter())
    }));
    let mut apps = Vec::new();
    for i in 0..ENDPOINTS {
        let app = api.create_app(&format!("crash-{i}")).await;
        api.create_endpoint(&app, &format!("{}/e{i}", receiver.url), json!({}))
            .await;
        apps.push(app);
    }
    let mut first = NodeProcess::worker(&config, "crash-first");
    let poster = Poster::start(&api.base, &api.token, &apps, 0..MESSAGES, 400.0);
    eventually(WAIT * 3, "deliveries before the kill", || async {
        seen.distinct() >= MESSAGES / 4
    })
    .await;
    let in_flight_at_kill = gauge.now();
    first.kill();
    let killed = Instant::now();
    let second = NodeProcess::worker(&config, "crash-second");
    let posted = poster.finish().await;
    let (lost, duplicates) = settle(&posted.accepted, &seen, &api.store, RECOVER, || {
        second.log_tail()
    })
    .await;
    // When each duplicated message was first sent, relative to the kill.
    let mut first_sent: HashMap<String, Instant> = HashMap::new();
    for hit in receiver.hits() {
        first_sent
            .entry(hit.webhook_id().to_string())
            .or_insert(hit.at);
    }
    let counts = seen.counts.lock().expect("seen").clone();
    let mut before_kill: Vec<Duration> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(id, _)| killed.saturating_duration_since(first_sent[id]))
        .collect();
    before_kill.sort();
    println!(
        "chaos worker SIGKILL: accepted={} lost={lost} duplicates={duplicates} ({:.2} %) \
         receiver_requests_in_flight_at_kill={in_flight_at_kill} \
         duplicates_first_sent_before_kill={before_kill:?} all_delivered_after_kill={:?}",
        posted.accepted.len(),
        duplicates as f64 * 100.0 / MESSAGES as f64,
        killed.elapsed()
    );
    assert_eq!(lost, 0);
    assert!(
        before_kill.iter().all(|age| *age <= IN_FLIGHT_WINDOW),
        "finished work sent again: {before_kill:?}"
    );
    assert!(
        duplicates * 100 < MESSAGES,
        "{duplicates} of {MESSAGES} delivered twice (1 % is {})",
        MESSAGES / 100
    );
    drop(second);
    api.shutdown().await;
}

/// The uuids a key names (its `:`-separated segments that parse as one).
fn uuids_in(key: &str) -> impl Iterator<Item = &str> {
    key.split([':', '|', '{', '}'])
        .filter(|part| uuid::Uuid::parse_str(part).is_ok())
}

#[actix_rt::test]
async fn an_application_deleted_by_a_client_that_hangs_up_leaves_no_key() {
    const MESSAGES: usize = 10_000;
    let config = config_on(redis_url());
    // No worker yet: the ten thousand messages all wait in the stream.
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let receiver = Receiver::ok();
    let app = api.create_app("doomed").await;
    let endpoint = id_of(&api.create_endpoint(&app, &receiver.url, json!({})).await);
    let kept = api.create_app("kept").await;
    api.create_endpoint(&kept, &format!("{}/kept", receiver.url), json!({}))
        .await;
    let kept_message = api.send_event(&kept, "e").await;
    let mut doomed: std::collections::HashSet<String> = api
        .send_many(&app, MESSAGES, 32)
        .await
        .into_iter()
        .collect();
    doomed.extend([app.clone(), endpoint]);
    let of_app = |keys: Vec<String>| -> Vec<String> {
        keys.into_iter()
            .filter(|k| uuids_in(k).any(|u| doomed.contains(u)))
            .collect()
    };
    assert!(of_app(api.keys().await).len() >= MESSAGES);

    // The request is sent whole, then the connection closed at once, before any answer.
    let request = format!(
        "DELETE /api/v1/applications/{app} HTTP/1.1\r\nHost: test\r\n\
         Authorization: Bearer {}\r\nContent-Length: 0\r\n\r\n",
        api.token
    );
    let address = api.base.strip_prefix("http://").expect("base").to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut socket = std::net::TcpStream::connect(address).expect("connect");
        socket.write_all(request.as_bytes()).expect("send");
    })
    .await
    .expect("hang-up client");
    let hung_up = Instant::now();
    eventually(RECOVER, "the application gone", || async {
        api.get(&format!("/api/v1/applications/{app}")).await.status == 404
    })
    .await;
    eventually(RECOVER, "no key of the application left", || async {
        of_app(api.keys().await).is_empty()
    })
    .await;
    let purged = hung_up.elapsed();
    // A worker then drains the deleted application's stream entries without delivering them,
    // and delivers the other application's message.
    let worker = NodeProcess::worker(&config, "after-delete");
    eventually(RECOVER, "the kept message delivered", || async {
        receiver.got("/kept", &kept_message)
    })
    .await;
    assert_drained(&api.store).await;
    println!(
        "chaos delete with hang-up: messages={MESSAGES} every_key_gone_after={purged:?} \
         deliveries={}",
        receiver.hits().len()
    );
    assert_eq!(
        receiver.hits().len(),
        1,
        "only the kept message is delivered"
    );
    assert_eq!(of_app(api.keys().await), Vec::<String>::new());
    drop(worker);
    api.shutdown().await;
}

/// End-to-end lag of each of `posted`'s messages the receiver got (first delivery − first
/// send), matched by the payload's message number.
fn lags(receiver: &Receiver, posted: &Posted) -> Vec<Duration> {
    let mut first: BTreeMap<usize, Instant> = BTreeMap::new();
    for hit in receiver.hits() {
        let payload: serde_json::Value = serde_json::from_slice(&hit.body).expect("json");
        let n = payload["n"].as_u64().expect("n") as usize;
        first.entry(n).or_insert(hit.at);
    }
    first
        .iter()
        .filter_map(|(n, at)| Some(at.saturating_duration_since(*posted.sent_at.get(n)?)))
        .collect()
}

#[actix_rt::test]
async fn a_healthy_endpoint_keeps_its_lag_next_to_100k_parked_deliveries() {
    const PARKED: usize = 100_000;
    /// Messages to the healthy endpoint per measurement, at 100/s.
    const PROBE: usize = 300;
    /// Below this p99 a difference is the shared 2-core machine's noise: the chaos suite runs
    /// two tests at a time, and p99s of 12 ms and 30 ms against 5–6 ms alone were seen with
    /// another chaos test beside this one (run by itself: 2.7–5 ms). What this test guards
    /// against, the parked backlog cycled through the stream at each probe, costs seconds.
    const NOISE_FLOOR: Duration = Duration::from_millis(100);
    // One partition: the failing endpoint's backlog and the healthy one share everything.
    let server = TestServer::start_with(|c| {
        c.queue.partitions = 1;
        c.circuit.failure_threshold = 5;
        c.circuit.cooldown = Duration::from_secs(1);
        c.circuit.max_cooldown = Duration::from_secs(2);
    })
    .await;
    let healthy = Receiver::ok();
    let healthy_app = server.create_app("healthy").await;
    server
        .create_endpoint(&healthy_app, &format!("{}/ok", healthy.url), json!({}))
        .await;
    let healthy_apps = [healthy_app];
    let down = Receiver::answering(500, Duration::ZERO);
    let down_app = server.create_app("down").await;
    server
        .create_endpoint(&down_app, &format!("{}/down", down.url), json!({}))
        .await;

    // Alone.
    let alone = Poster::start(&server.base, &server.token, &healthy_apps, 0..PROBE, 100.0)
        .finish()
        .await;
    eventually(WAIT, "the healthy endpoint's messages", || async {
        healthy.hits().len() >= PROBE
    })
    .await;
    let lag_alone = lags(&healthy, &alone);

    // The neighbour's backlog, parked behind its open circuit.
    let started = Instant::now();
    server.send_many(&down_app, PARKED, 64).await;
    let posted_in = started.elapsed();
    let settled = poll_until(
        Duration::from_secs(180),
        "the backlog parked",
        || depth(&server.store),
        |d| d.stream == 0 && d.pending == 0 && d.parked + d.retry + 10 >= PARKED,
    )
    .await;
    let parked_in = started.elapsed();

    // With 100k parked next door, and the down endpoint's circuit probed every 1–2 s.
    let hits_before = healthy.hits().len();
    let probes_before = down.hits().len();
    let with = Poster::start(
        &server.base,
        &server.token,
        &healthy_apps,
        PROBE..2 * PROBE,
        100.0,
    )
    .finish()
    .await;
    eventually(WAIT, "the healthy endpoint's messages", || async {
        healthy.hits().len() >= hits_before + PROBE
    })
    .await;
    let lag_with = lags(&healthy, &with);
    let probes = down.hits().len() - probes_before;
    let still = depth(&server.store).await;
    let (alone_p50, alone_p99) = (percentile(&lag_alone, 50.0), percentile(&lag_alone, 99.0));
    let (with_p50, with_p99) = (percentile(&lag_with, 50.0), percentile(&lag_with, 99.0));
    println!(
        "chaos parked neighbour: parked={} posted_in={posted_in:?} parked_in={parked_in:?} \
         healthy lag alone p50={alone_p50:?} p99={alone_p99:?}; with 100k parked next door \
         p50={with_p50:?} p99={with_p99:?}; probes_meanwhile={probes} parked_after={}",
        settled.parked, still.parked
    );
    // Probes go out one at a time: the backlog stays parked, not cycled.
    assert!(
        probes <= 10,
        "{probes} requests to the down endpoint while measuring"
    );
    assert!(still.parked + still.retry + 10 >= PARKED);
    // Within 2× of alone, or under the noise floor: a backlog cycled through the stream at
    // each probe costs seconds, far above either.
    let bound = (alone_p99 * 2).max(NOISE_FLOOR);
    assert!(
        with_p99 <= bound,
        "healthy p99 lag {with_p99:?} with the parked neighbour, {alone_p99:?} alone"
    );
    server.shutdown().await;
}
