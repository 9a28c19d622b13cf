//! Criterion benchmarks of the hot paths: signing, routing, payload filters and custom headers
//! (their cost per message), serialization, Redis key names, the retry policy, the accept and
//! record paths against a real Redis (each also prints Redis's own CPU per call), and one
//! end-to-end bench that pushes messages through Redis, the worker and hyper into a local
//! receiver.
//!
//! `cargo bench --bench engine` (the Redis groups need `redis-server` on the PATH).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octohooks::api::types::MessageIn;
use octohooks::config::{Config, RetryConfig};
use octohooks::delivery::signature::sign;
use octohooks::dispatch::routing::Route;
use octohooks::domain::{secret, Attempt, AttemptStatus, FailureKind, Subscription};
use octohooks::retry::RetryPolicy;
use uuid::Uuid;

fn payload_1kb() -> Vec<u8> {
    format!(
        r#"{{"email":"john@example.com","filler":"{}"}}"#,
        "x".repeat(980)
    )
    .into_bytes()
}

fn signing(c: &mut Criterion) {
    let body = payload_1kb();
    let first = secret::decode(&secret::generate()).expect("secret");
    let second = secret::decode(&secret::generate()).expect("secret");
    let one: Vec<&[u8]> = vec![&first];
    let two: Vec<&[u8]> = vec![&first, &second];
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("1KB, 1 secret", |b| {
        b.iter(|| {
            sign(
                &one,
                "2f1c9c2e-7d1b-4a55-9f0e-3e2b8c1d0a11",
                1_700_000_000,
                &body,
            )
        })
    });
    group.bench_function("1KB, 2 secrets", |b| {
        b.iter(|| {
            sign(
                &two,
                "2f1c9c2e-7d1b-4a55-9f0e-3e2b8c1d0a11",
                1_700_000_000,
                &body,
            )
        })
    });
    group.finish();
}

fn routing(c: &mut Criterion) {
    let routes: Vec<Route> = (0..1000)
        .map(|i| Route {
            id: Uuid::new_v4(),
            url: format!("https://example.com/{i}"),
            enabled: i % 10 != 0,
            paused: false,
            ordering: Default::default(),
            filter: None,
            headers: vec![],
            subscription: Subscription {
                event_types: if i % 3 == 0 {
                    vec![]
                } else {
                    vec![format!("type.{}", i % 7)]
                },
                channels: if i % 4 == 0 {
                    vec![format!("ch{}", i % 5)]
                } else {
                    vec![]
                },
            },
            signing_keys: vec![],
            rate_limit: None,
            health_epoch: 0,
        })
        .collect();
    let channels = vec!["ch1".to_string(), "ch3".to_string()];
    c.bench_function("route 1 message over 1000 endpoints", |b| {
        b.iter(|| {
            routes
                .iter()
                .filter(|r| r.wants("type.3", &channels, || None))
                .count()
        })
    });
}

/// What a payload filter adds per message and endpoint: the payload parsed once per message
/// (only when some endpoint has a filter), then one match per filtered endpoint.
fn filters(c: &mut Criterion) {
    let body = payload_1kb();
    let filter = octohooks::domain::filter::Filter::parse(&serde_json::json!({
        "email": {"$in": ["john@example.com", "jane@example.com"]},
        "$or": [{"filler": {"$exists": true}}, {"plan": "pro"}]
    }))
    .expect("filter");
    let mut group = c.benchmark_group("filter");
    group.bench_function("parse 1KB payload", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&body).expect("json"))
    });
    let payload: serde_json::Value = serde_json::from_slice(&body).expect("json");
    group.bench_function("match 3 conditions", |b| {
        b.iter(|| filter.matches(&payload))
    });
    group.finish();
}

/// What custom headers add per attempt: each is cloned into the request.
fn custom_headers(c: &mut Criterion) {
    use hyper::header::{HeaderName, HeaderValue};
    let headers: Vec<(HeaderName, HeaderValue)> = (0..5)
        .map(|i| {
            (
                HeaderName::from_bytes(format!("x-custom-{i}").as_bytes()).expect("name"),
                HeaderValue::from_str(&"v".repeat(40)).expect("value"),
            )
        })
        .collect();
    let build = |extra: &[(HeaderName, HeaderValue)]| {
        let mut request = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri("http://127.0.0.1:8080/hook")
            .header("content-type", "application/json");
        if let Some(map) = request.headers_mut() {
            for (name, value) in extra {
                map.insert(name.clone(), value.clone());
            }
        }
        request
            .header("webhook-id", "msg_2f1c9c2e")
            .body(())
            .expect("request")
    };
    let mut group = c.benchmark_group("headers");
    group.bench_function("request, no custom header", |b| b.iter(|| build(&[])));
    group.bench_function("request, 5 custom headers", |b| b.iter(|| build(&headers)));
    group.finish();
}

fn serialization(c: &mut Criterion) {
    let body = format!(
        r#"{{"eventType":"user.created","channels":["a","b"],"payload":{}}}"#,
        String::from_utf8(payload_1kb()).expect("utf8")
    );
    c.bench_function("parse 1KB message request", |b| {
        b.iter(|| serde_json::from_str::<MessageIn>(&body).expect("parse"))
    });
    let attempt = Attempt {
        endpoint_id: Uuid::new_v4(),
        attempt: 3,
        timestamp: 1_700_000_000_000,
        status: AttemptStatus::Pending,
        response_status_code: Some(503),
        error: Some(FailureKind::HttpStatus),
        duration_ms: 12,
        response_body: Some("x".repeat(200)),
        next_attempt: Some(1_700_000_300_000),
    };
    c.bench_function("serialize attempt record", |b| {
        b.iter(|| serde_json::to_string(&attempt).expect("json"))
    });
}

/// The keys a success's record names (the script's first tier): made for every delivery
/// and, with the accept's, once for every message.
fn keys(c: &mut Criterion) {
    let keys = octohooks::db::Keys::new("octohooks", 64);
    let (app, endpoint, message) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let partition = keys.partition_of(app);
    c.bench_function("keys of one success's record (9)", |b| {
        b.iter(|| {
            [
                keys.lease(partition),
                keys.attempts(app, message),
                keys.message(app, message),
                keys.endpoint(app, endpoint),
                keys.endpoint_health(app, endpoint),
                keys.endpoint_log(app, endpoint),
                keys.endpoint_stats(app, endpoint),
                keys.stream(partition),
                keys.done(partition, "1796529393691-0"),
            ]
        })
    });
}

fn retry_policy(c: &mut Criterion) {
    let policy = RetryPolicy::new(&RetryConfig {
        schedule: Config::defaults().retry.schedule,
        jitter: 0.2,
        retry_after_max: Duration::from_secs(3600),
    });
    c.bench_function("retry policy next_delay", |b| {
        let mut n = 0u32;
        b.iter(|| {
            n = n % 8 + 1;
            policy.next_delay(n, None, 0.37)
        })
    });
}

/// Messages accepted through the store, fanned out by the worker, delivered over HTTP to a
/// local actix-web receiver: time per message at steady state.
fn end_to_end(c: &mut Criterion) {
    let Some(redis_url) = start_redis() else {
        eprintln!("redis-server not found; skipping the end-to-end bench");
        return;
    };
    let system = actix_rt::System::new();
    let received = Arc::new(AtomicU64::new(0));
    let (store, app) = system.block_on(setup(&redis_url, received.clone()));
    let mut group = c.benchmark_group("end-to-end");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    group.bench_function("accept + deliver 1KB message", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                let target = received.load(Ordering::Relaxed) + iters;
                let payload: Box<serde_json::value::RawValue> =
                    serde_json::from_slice(&payload_1kb()).expect("payload");
                for _ in 0..iters {
                    store
                        .create_message("bench", app, &bench_message(&payload))
                        .await
                        .expect("accept");
                }
                while received.load(Ordering::Relaxed) < target {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// The accept path alone (no worker): what one POST of a 1KB message costs the store and
/// Redis (the accept script: message hash, stream entry, indexes), one request at a time and
/// 64 concurrent requests.
fn accept(c: &mut Criterion) {
    let Some((runtime, store, app)) = store_with_app("accept") else {
        return;
    };
    let payload: Box<serde_json::value::RawValue> =
        serde_json::from_slice(&payload_1kb()).expect("payload");
    let message = bench_message(&payload);
    let mut group = c.benchmark_group("accept");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1KB message, one at a time", |b| {
        b.iter(|| {
            runtime
                .block_on(store.create_message("bench", app, &message))
                .expect("accept")
        })
    });
    group.throughput(Throughput::Elements(64));
    let cpu = RedisCpu::start(&runtime, &store);
    group.bench_function("1KB message, 64 concurrent", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let calls = (0..64).map(|_| store.create_message("bench", app, &message));
                for result in futures_util::future::join_all(calls).await {
                    result.expect("accept");
                }
            });
            cpu.count(64);
        })
    });
    cpu.report("accept, 64 concurrent");
    group.finish();
}

/// The record path alone: what recording a delivered attempt costs the worker and Redis (the
/// record script: fence, attempt, log, stats, health, acknowledgement), for the common case of
/// a success ending a stream entry's only job: one call each, through a thread's recorder,
/// and 16 in one call. The entry ids name no real entry, so XACK and
/// XDEL find nothing to do: a little cheaper than in a real run.
fn record(c: &mut Criterion) {
    use octohooks::dispatch::recorder::{self, Recorder};
    use octohooks::queue::record::{
        record_attempt, record_successes, AttemptEvents, AttemptRecord, HealthUpdate, JobRef,
        Success,
    };
    let Some((runtime, store, app)) = store_with_app("record") else {
        return;
    };
    let partition = store.db.keys.partition_of(app);
    let (endpoint, message, lease) = runtime.block_on(async {
        let endpoint = store
            .create_endpoint(app, &bench_endpoint("http://127.0.0.1:9/hook".into()), 10)
            .await
            .expect("endpoint")
            .endpoint
            .id;
        let payload: Box<serde_json::value::RawValue> =
            serde_json::from_slice(&payload_1kb()).expect("payload");
        let message = match store
            .create_message("bench", app, &bench_message(&payload))
            .await
            .expect("accept")
        {
            octohooks::store::messages::Accepted::Created(m) => m.id,
            other => panic!("not created: {other:?}"),
        };
        let lease = octohooks::queue::lease::acquire(
            &store.db,
            partition,
            "bench",
            Duration::from_secs(3600),
        )
        .await
        .expect("lease")
        .expect("a free lease");
        (endpoint, message, lease)
    });
    let attempt = octohooks::store::attempts::encode(&Attempt {
        endpoint_id: endpoint,
        attempt: 1,
        timestamp: octohooks::clock::now_ms(),
        status: AttemptStatus::Success,
        response_status_code: Some(200),
        error: None,
        duration_ms: 3,
        response_body: None,
        next_attempt: None,
    });
    let (store, attempt, lease) = (&store, attempt.as_str(), lease.token());
    let record_one = move || {
        let now = octohooks::clock::now_ms();
        let record = AttemptRecord {
            job: JobRef {
                partition,
                app,
                endpoint,
                entry: "1-1",
                sole: true,
                done_set: false,
                lease,
                done_ttl_secs: 3600,
            },
            message,
            started: now,
            status: AttemptStatus::Success,
            attempt,
            attempt_if_disabled: None,
            health: HealthUpdate::Success,
            retry: None,
            now,
            retention_secs: store.retention_secs(),
            disable_after_ms: 5 * 24 * 3600 * 1000,
            lane: None,
            events: AttemptEvents::default(),
        };
        async move { record_attempt(&store.db, &record).await.expect("record") }
    };
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("success, one at a time", |b| {
        b.iter(|| runtime.block_on(record_one()))
    });
    group.throughput(Throughput::Elements(64));
    let cpu = RedisCpu::start(&runtime, store);
    group.bench_function("success, 64 concurrent", |b| {
        b.iter(|| {
            runtime.block_on(futures_util::future::join_all(
                (0..64).map(|_| record_one()),
            ));
            cpu.count(64);
        })
    });
    cpu.report("record, 64 concurrent");
    // The thread's group commit (`dispatch::recorder`): 64 concurrent successes go in as few
    // calls of `record_successes` as gather while the previous one is in flight.
    let job = JobRef {
        partition,
        app,
        endpoint,
        entry: "1-1",
        sole: true,
        done_set: false,
        lease,
        done_ttl_secs: 3600,
    };
    let success = Success::new(&job, message, octohooks::clock::now_ms(), attempt.into());
    let (recorder, queue) = Recorder::new(store.db.clone(), store.retention_secs());
    runtime.spawn(recorder::run(queue));
    let cpu = RedisCpu::start(&runtime, store);
    group.bench_function("success, 64 concurrent through the recorder", |b| {
        b.iter(|| {
            runtime.block_on(futures_util::future::join_all((0..64).map(|_| {
                let (recorder, success) = (&recorder, success.clone());
                async move { recorder.record(success).await.expect("record") }
            })));
            cpu.count(64);
        })
    });
    cpu.report("record, 64 concurrent through the recorder");
    group.throughput(Throughput::Elements(16));
    let sixteen = vec![success; 16];
    group.bench_function("success, 16 in one call", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let now = octohooks::clock::now_ms();
                record_successes(&store.db, &sixteen, now, store.retention_secs())
                    .await
                    .expect("record")
            })
        })
    });
    group.finish();
}

/// Redis's own CPU time (from `/proc`, Linux) over a bench, per call: the figure a load test
/// divides by messages, here without the rest of the machine's noise in the ratio.
struct RedisCpu {
    pid: Option<u32>,
    before_ticks: u64,
    calls: AtomicU64,
}

impl RedisCpu {
    fn start(runtime: &tokio::runtime::Runtime, store: &octohooks::store::Store) -> RedisCpu {
        let pid = runtime.block_on(redis_pid(store));
        RedisCpu {
            pid,
            before_ticks: pid.and_then(cpu_ticks).unwrap_or(0),
            calls: AtomicU64::new(0),
        }
    }

    fn count(&self, calls: u64) {
        self.calls.fetch_add(calls, Ordering::Relaxed);
    }

    fn report(&self, what: &str) {
        let calls = self.calls.load(Ordering::Relaxed);
        let Some(after) = self.pid.and_then(cpu_ticks) else {
            return;
        };
        if calls > 0 {
            // /proc counts in clock ticks of 10 ms.
            let us = (after - self.before_ticks) as f64 * 10_000.0 / calls as f64;
            eprintln!("{what}: Redis CPU {us:.1} us per call over {calls} calls");
        }
    }
}

async fn redis_pid(store: &octohooks::store::Store) -> Option<u32> {
    let mut conn = store.conn().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A plain 1KB message of event type `bench`, as the API would store it.
fn bench_message(
    payload: &serde_json::value::RawValue,
) -> octohooks::store::messages::NewMessage<'_> {
    octohooks::store::messages::NewMessage {
        event_type: "bench",
        channels: &[],
        payload,
        uid: None,
        idempotency: None,
        ordering_key: None,
        only_to: None,
    }
}

/// A current-thread runtime, a store on a fresh local Redis and one application in it, for
/// the benches that call the store directly; `None` (said on stderr) without `redis-server`.
fn store_with_app(bench: &str) -> Option<(tokio::runtime::Runtime, octohooks::store::Store, Uuid)> {
    let Some(redis_url) = start_redis() else {
        eprintln!("redis-server not found; skipping the {bench} bench");
        return None;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = Config::defaults();
    config.redis.url = redis_url;
    let (store, app) = runtime.block_on(async {
        let store = octohooks::store::Store::connect(&config)
            .await
            .expect("store");
        let app = store
            .create_application("bench", "bench", None)
            .await
            .expect("app");
        (store, app.id)
    });
    Some((runtime, store, app))
}

/// An endpoint on `url` with one secret and nothing else set.
fn bench_endpoint(url: String) -> octohooks::store::endpoints::EndpointSpec {
    octohooks::store::endpoints::EndpointSpec {
        name: "bench".into(),
        url,
        uid: None,
        channels: vec![],
        event_types: vec![],
        enabled: true,
        secrets: Some(vec![secret::generate()]),
        rate_limit: None,
        headers: vec![],
        filter: None,
        ordering: Default::default(),
    }
}

fn start_redis() -> Option<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning & pid=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $pid",
        parent = std::process::id()
    );
    #[allow(clippy::zombie_processes)] // the watchdog ends with this process
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(format!("redis://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

async fn setup(redis_url: &str, received: Arc<AtomicU64>) -> (octohooks::store::Store, Uuid) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let server = HttpServer::new(move || {
        let received = received.clone();
        App::new().default_service(web::to(move || {
            received.fetch_add(1, Ordering::Relaxed);
            async { HttpResponse::Ok().finish() }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix_rt::spawn(server);

    let mut config = Config::defaults();
    config.redis.url = redis_url.to_string();
    config.delivery.allow_private_ips = true;
    config.log.level = "warn".into();
    let node = octohooks::runtime::Node::start(
        Arc::new(config.clone()),
        octohooks::runtime::Roles::WORKER,
    )
    .await
    .expect("worker");
    let store = node.store.clone();
    std::mem::forget(node); // runs for the whole bench
    let app = store
        .create_application("bench", "bench", None)
        .await
        .expect("app");
    store
        .create_endpoint(app.id, &bench_endpoint(url), 10)
        .await
        .expect("endpoint");
    (store, app.id)
}

criterion_group!(
    benches,
    signing,
    routing,
    filters,
    custom_headers,
    serialization,
    keys,
    retry_policy,
    accept,
    record,
    end_to_end
);
criterion_main!(benches);
