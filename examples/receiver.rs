//! A fast webhook receiver for load tests: answers 200 at once, counts deliveries, distinct
//! (endpoint path, `webhook-id`) pairs (so `duplicates` stays right when one message fans out
//! to several endpoints) and deliveries per endpoint path, and measures create→delivery lag
//! from a `sentAt` (epoch ms) field in the payload.
//!
//! `cargo run --release --example receiver -- 127.0.0.1:9000`, then `GET /stats` for JSON
//! figures and `POST /reset` to start over.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Default)]
struct Stats {
    deliveries: u64,
    /// `path webhook-id` of every delivery seen.
    ids: HashSet<String>,
    /// Deliveries per endpoint path.
    per_path: HashMap<String, u64>,
    lags_ms: Vec<u64>,
    first_ms: Option<u64>,
    last_ms: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sent_at(body: &[u8]) -> Option<u64> {
    // Cheap scan instead of a full parse: `"sentAt":1234567890123`.
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"sentAt\":")? + 9;
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let stats = web::Data::new(Arc::new(Mutex::new(Stats::default())));
    println!("receiver listening on http://{addr}");
    HttpServer::new(move || {
        App::new()
            .app_data(stats.clone())
            .route(
                "/stats",
                web::get().to(|stats: web::Data<Arc<Mutex<Stats>>>| async move {
                    let s = stats.lock().expect("stats");
                    let mut lags = s.lags_ms.clone();
                    lags.sort_unstable();
                    let span = s.first_ms.map_or(0, |f| s.last_ms.saturating_sub(f));
                    let per_min = s.per_path.values().min().copied().unwrap_or(0);
                    let per_max = s.per_path.values().max().copied().unwrap_or(0);
                    HttpResponse::Ok().json(serde_json::json!({
                        "deliveries": s.deliveries,
                        "distinct": s.ids.len(),
                        "endpoints": s.per_path.len(),
                        "per_endpoint": { "min": per_min, "max": per_max },
                        "duplicates": s.deliveries - s.ids.len() as u64,
                        "span_ms": span,
                        "first_ms": s.first_ms.unwrap_or(0),
                        "last_ms": s.last_ms,
                        "rate_per_s": if span > 0 { s.deliveries as f64 * 1000.0 / span as f64 } else { 0.0 },
                        "lag_ms": {
                            "count": lags.len(),
                            "p50": percentile(&lags, 0.50),
                            "p90": percentile(&lags, 0.90),
                            "p99": percentile(&lags, 0.99),
                            "max": lags.last().copied().unwrap_or(0),
                        }
                    }))
                }),
            )
            .route(
                "/reset",
                web::post().to(|stats: web::Data<Arc<Mutex<Stats>>>| async move {
                    *stats.lock().expect("stats") = Stats::default();
                    HttpResponse::Ok().finish()
                }),
            )
            .default_service(web::to(
                |req: HttpRequest, body: web::Bytes, stats: web::Data<Arc<Mutex<Stats>>>| async move {
                    let now = now_ms();
                    let path = req.path();
                    let id = req
                        .headers()
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let key = format!("{path} {id}");
                    let mut s = stats.lock().expect("stats");
                    s.deliveries += 1;
                    s.ids.insert(key);
                    match s.per_path.get_mut(path) {
                        Some(n) => *n += 1,
                        None => {
                            s.per_path.insert(path.to_string(), 1);
                        }
                    }
                    if let Some(sent) = sent_at(&body) {
                        s.lags_ms.push(now.saturating_sub(sent));
                    }
                    s.first_ms.get_or_insert(now);
                    s.last_ms = now;
                    HttpResponse::Ok().finish()
                },
            ))
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
