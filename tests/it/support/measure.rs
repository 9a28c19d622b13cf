//! Figures over what receivers saw: how many events fell in the busiest window, latency
//! percentiles, and mapping a receiver's `Instant`s onto the epoch milliseconds of attempts.

use std::time::{Duration, Instant};

use super::receiver::Hit;

/// For each event (sorted), how many events fall in `[its time, its time + window)`; times
/// are offsets from any common origin.
pub fn window_counts(times: &[Duration], window: Duration) -> Vec<(Duration, usize)> {
    let mut times = times.to_vec();
    times.sort();
    let mut counts = Vec::with_capacity(times.len());
    let mut end = 0;
    for (start, t) in times.iter().enumerate() {
        while end < times.len() && times[end] < *t + window {
            end += 1;
        }
        counts.push((*t, end - start));
    }
    counts
}

/// Most events within any `window` starting at an event.
pub fn max_in_window(times: &[Duration], window: Duration) -> usize {
    window_counts(times, window)
        .into_iter()
        .map(|(_, n)| n)
        .max()
        .unwrap_or(0)
}

/// `Instant`s as offsets from `origin` (which must not be later than any of them).
pub fn offsets(times: impl IntoIterator<Item = Instant>, origin: Instant) -> Vec<Duration> {
    times
        .into_iter()
        .map(|t| t.duration_since(origin))
        .collect()
}

/// Epoch milliseconds as offsets from the epoch.
pub fn ms_offsets(times: &[i64]) -> Vec<Duration> {
    times
        .iter()
        .map(|ms| Duration::from_millis(u64::try_from(*ms).expect("epoch ms")))
        .collect()
}

/// The `p`-th percentile (0–100) of a sample, nearest-rank.
pub fn percentile(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Epoch milliseconds of an `Instant` of this process, from a reference pair taken together.
pub fn epoch_ms_of(at: Instant, reference: (Instant, i64)) -> i64 {
    let (ref_instant, ref_ms) = reference;
    if at >= ref_instant {
        ref_ms + at.duration_since(ref_instant).as_millis() as i64
    } else {
        ref_ms - ref_instant.duration_since(at).as_millis() as i64
    }
}

/// When each hit arrived, as offsets from the first.
pub fn hit_offsets(hits: &[Hit]) -> Vec<Duration> {
    let Some(origin) = hits.iter().map(|h| h.at).min() else {
        return Vec::new();
    };
    offsets(hits.iter().map(|h| h.at), origin)
}

/// Time from the first hit to the last.
pub fn span(hits: &[Hit]) -> Duration {
    hit_offsets(hits).into_iter().max().unwrap_or_default()
}
