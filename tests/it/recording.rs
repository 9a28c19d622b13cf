//! A worker thread's group commit of successes (`queue::record::record_successes`, called by
//! `dispatch::recorder`): many successes of several partitions in one script call, each
//! fenced by its own partition's lease, each ending its job for its stream entry.

use std::time::Duration;

use octohooks::clock::now_ms;
use octohooks::domain::{Attempt, AttemptStatus};
use octohooks::queue::lease::{self, Lease};
use octohooks::queue::record::{record_successes, JobRef, Success};
use octohooks::queue::stream::{self, Cursor, Entry, GROUP};
use octohooks::runtime::Roles;
use octohooks::store::attempts;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::api::{id_of, redis_conn};
use crate::support::server::{test_config, TestServer};

/// An application with one endpoint, and the partition its messages go to.
struct Placed {
    app: Uuid,
    endpoint: Uuid,
    partition: u16,
}

/// Applications with an endpoint each until two land in different partitions.
async fn two_partitions(server: &TestServer) -> (Placed, Placed) {
    let keys = &server.store.db.keys;
    let mut first: Option<Placed> = None;
    for n in 0..64 {
        // Port 9 (discard): nothing is delivered here, the test records outcomes itself.
        let (app, endpoint) = server
            .app_with_endpoint(&format!("rec-{n}"), "http://127.0.0.1:9/hook")
            .await;
        let app = Uuid::parse_str(&app).expect("app id");
        let placed = Placed {
            app,
            endpoint: Uuid::parse_str(&id_of(&endpoint)).expect("endpoint id"),
            partition: keys.partition_of(app),
        };
        match &first {
            Some(f) if f.partition != placed.partition => {
                return (first.take().expect("first"), placed)
            }
            Some(_) => {}
            None => first = Some(placed),
        }
    }
    panic!("64 applications all landed in one partition");
}

/// Reads `placed`'s partition's new entries as its owner would (they become pending).
async fn read_entries(server: &TestServer, placed: &Placed, expected: usize) -> Vec<Entry> {
    let db = &server.store.db;
    let stream_key = db.keys.stream(placed.partition);
    let mut conn = db.conn().await.expect("conn");
    stream::ensure_group(&mut conn, &stream_key)
        .await
        .expect("group");
    let read = stream::read(
        &mut conn,
        &stream_key,
        &Cursor::New,
        100,
        Duration::from_millis(10),
    )
    .await
    .expect("read");
    assert_eq!(read.entries.len(), expected, "entries of {stream_key}");
    read.entries
}

fn success(placed: &Placed, entry: &Entry, lease: &str, sole: bool, started: i64) -> Success {
    let job = JobRef {
        partition: placed.partition,
        app: placed.app,
        endpoint: placed.endpoint,
        entry: &entry.id,
        sole,
        done_set: false,
        lease,
        done_ttl_secs: 3600,
    };
    let attempt = attempts::encode(&Attempt {
        endpoint_id: placed.endpoint,
        attempt: 1,
        timestamp: started,
        status: AttemptStatus::Success,
        response_status_code: Some(200),
        error: None,
        duration_ms: 3,
        response_body: None,
        next_attempt: None,
    });
    Success::new(&job, entry.task.message, started, attempt)
}

/// (length, pending count) of a partition's stream.
async fn stream_state(server: &TestServer, partition: u16) -> (usize, usize) {
    let key = server.store.db.keys.stream(partition);
    let mut conn = redis_conn(server).await;
    let len: usize = redis::cmd("XLEN")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("xlen");
    // The summary form: count, smallest id, greatest id, consumers.
    let pending: (usize, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&key)
        .arg(GROUP)
        .query_async(&mut conn)
        .await
        .expect("xpending");
    (len, pending.0)
}

/// `GET` of one of `placed`'s endpoint's views (`stats`, `attempts`).
async fn endpoint_view(server: &TestServer, placed: &Placed, view: &str) -> Value {
    let path = format!(
        "/api/v1/applications/{}/endpoints/{}/{view}",
        placed.app, placed.endpoint
    );
    let answer = server.get(&path).await;
    assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    answer.body
}

async fn stats_successes(server: &TestServer, placed: &Placed) -> i64 {
    let stats = endpoint_view(server, placed, "stats").await;
    stats["hourly"]
        .as_array()
        .expect("hourly")
        .iter()
        .map(|bucket| bucket["success"].as_i64().expect("success count"))
        .sum()
}

async fn endpoint_log(server: &TestServer, placed: &Placed) -> Vec<Value> {
    let page = endpoint_view(server, placed, "attempts").await;
    page.as_array().cloned().expect("a page of attempts")
}

#[actix_rt::test]
async fn one_call_records_the_successes_of_several_partitions_each_under_its_own_lease() {
    let server = TestServer::start_config(test_config(), Roles::API).await;
    let db = &server.store.db;
    let (ours, theirs) = two_partitions(&server).await;
    for (placed, count) in [(&ours, 3), (&theirs, 2)] {
        for n in 0..count {
            server
                .send_message(
                    &placed.app.to_string(),
                    json!({"eventType": "user.created", "payload": {"n": n}}),
                )
                .await;
        }
    }
    let ours_lease = lease::acquire(db, ours.partition, "test-node", Duration::from_secs(60))
        .await
        .expect("acquire")
        .expect("free lease");
    // The other partition's lease is held by another node: our token for it is stale.
    let _their_lease = lease::acquire(db, theirs.partition, "other", Duration::from_secs(60))
        .await
        .expect("acquire")
        .expect("free lease");
    let stale = Lease::from_token("test-node:stale");
    let our_entries = read_entries(&server, &ours, 3).await;
    let their_entries = read_entries(&server, &theirs, 2).await;
    let started = now_ms();
    // Two sole jobs and one of several (marked done, the entry stays) of ours, then theirs.
    let recorded_at = now_ms();
    let successes = vec![
        success(&ours, &our_entries[0], ours_lease.token(), true, started),
        success(&theirs, &their_entries[0], stale.token(), true, started),
        success(
            &ours,
            &our_entries[1],
            ours_lease.token(),
            true,
            started + 1,
        ),
        success(
            &ours,
            &our_entries[2],
            ours_lease.token(),
            false,
            started + 2,
        ),
        success(&theirs, &their_entries[1], stale.token(), true, started),
    ];

    let recorded = record_successes(db, &successes, recorded_at, 3600)
        .await
        .expect("record");

    assert_eq!(recorded, vec![true, false, true, true, false]);
    for entry in &our_entries {
        let attempts = server
            .attempts(&ours.app.to_string(), &entry.task.message.to_string())
            .await;
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!(attempts[0]["status"], "success");
        assert_eq!(attempts[0]["responseStatusCode"], 200);
    }
    for entry in &their_entries {
        let attempts = server
            .attempts(&theirs.app.to_string(), &entry.task.message.to_string())
            .await;
        assert_eq!(
            attempts,
            Vec::<Value>::new(),
            "a refused record wrote its attempt"
        );
    }
    // Ours: the two sole entries acknowledged and deleted, the marked one left pending with
    // the endpoint in its done set. Theirs: untouched.
    assert_eq!(stream_state(&server, ours.partition).await, (1, 1));
    assert_eq!(stream_state(&server, theirs.partition).await, (2, 2));
    let mut conn = redis_conn(&server).await;
    let done: Vec<String> = redis::cmd("SMEMBERS")
        .arg(db.keys.done(ours.partition, &our_entries[2].id))
        .query_async(&mut conn)
        .await
        .expect("done set");
    assert_eq!(done, vec![ours.endpoint.to_string()]);
    assert_eq!(stats_successes(&server, &ours).await, 3);
    assert_eq!(stats_successes(&server, &theirs).await, 0);
    assert_eq!(endpoint_log(&server, &ours).await.len(), 3);
    assert_eq!(endpoint_log(&server, &theirs).await.len(), 0);
    let health = |placed: &Placed| {
        let (app, endpoint) = (placed.app.to_string(), placed.endpoint.to_string());
        let server = &server;
        async move { server.endpoint(&app, &endpoint).await["health"].clone() }
    };
    assert_eq!(health(&ours).await["lastSuccess"], recorded_at);
    assert_eq!(health(&theirs).await["lastSuccess"], Value::Null);
    server.shutdown().await;
}
