use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::config::CircuitConfig;

const CIRCUIT: CircuitConfig = CircuitConfig {
    failure_threshold: 3,
    cooldown: Duration::from_secs(10),
    max_cooldown: Duration::from_secs(60),
};

fn gate(capacity: usize, max_in_flight: usize, now: Instant) -> Gate<u32, ()> {
    Gate::new(
        Limits {
            queue_capacity: capacity,
            max_in_flight,
            default_rate: None,
        },
        CircuitBreaker::new(&CIRCUIT),
        now,
    )
}

fn start(g: &mut Gate<u32, ()>, now: Instant) -> Option<(u32, bool)> {
    match g.next(now) {
        Next::Start { job, probe } => Some((job, probe)),
        _ => None,
    }
}

#[test]
fn starts_up_to_the_in_flight_cap_in_arrival_order() {
    let t0 = Instant::now();
    let mut g = gate(10, 2, t0);
    for job in 1..=3 {
        assert_eq!(g.offer(job, None, t0), Admit::Queued);
        // Waiting jobs hold one of the partition's slots.
        assert_eq!(g.settle_newest(t0, || Some(())), None);
    }
    assert_eq!(start(&mut g, t0), Some((1, false)));
    assert_eq!(start(&mut g, t0), Some((2, false)));
    assert_eq!(g.next(t0), Next::Nothing);
    g.finished(t0, AttemptResult::Succeeded, false);
    assert_eq!(start(&mut g, t0), Some((3, false)));
    assert_eq!(g.in_flight(), 2);
}

#[test]
fn a_full_queue_spills() {
    let t0 = Instant::now();
    let mut g = gate(2, 1, t0);
    g.offer(1, None, t0);
    g.offer(2, None, t0);
    assert_eq!(
        g.offer(3, None, t0),
        Admit::Spill {
            job: 3,
            delay: SPILL_DELAY
        }
    );
}

#[test]
fn a_full_rate_limited_queue_spills_for_as_long_as_it_takes_to_drain() {
    let t0 = Instant::now();
    let mut g = gate(20, 1, t0);
    for job in 0..20 {
        g.offer(job, Some(4), t0);
    }
    assert_eq!(
        g.offer(99, Some(4), t0),
        Admit::Spill {
            job: 99,
            delay: Duration::from_secs(5)
        }
    );
}

#[test]
fn the_rate_limit_spreads_starts_evenly() {
    let t0 = Instant::now();
    let mut g = gate(10, 10, t0);
    for job in 1..=3 {
        g.offer(job, Some(10), t0);
    }
    assert_eq!(start(&mut g, t0), Some((1, false)));
    assert_eq!(g.next(t0), Next::WaitFor(Duration::from_millis(100)));
    let t1 = t0 + Duration::from_millis(60);
    assert_eq!(g.next(t1), Next::WaitFor(Duration::from_millis(40)));
    let t2 = t0 + Duration::from_millis(100);
    assert_eq!(start(&mut g, t2), Some((2, false)));
}

#[test]
fn a_restored_previous_start_counts_against_the_rate_limit() {
    let t0 = Instant::now();
    let mut g = gate(10, 10, t0);
    g.restore_previous_start(Some(t0 - Duration::from_millis(40)));
    g.offer(1, Some(10), t0);
    assert_eq!(g.next(t0), Next::WaitFor(Duration::from_millis(60)));
    let later = t0 + Duration::from_millis(60);
    assert_eq!(start(&mut g, later), Some((1, false)));
}

#[test]
fn an_open_circuit_postpones_the_queue_until_the_probe_which_closes_it() {
    let t0 = Instant::now();
    let mut g = gate(10, 1, t0);
    let mut transitions = Vec::new();
    for job in 0..3 {
        g.offer(job, None, t0);
        assert!(start(&mut g, t0).is_some());
        transitions.push(g.finished(t0, AttemptResult::Failed, false).transition);
    }
    assert_eq!(transitions, vec![None, None, Some(CircuitState::Open)]);
    g.offer(7, None, t0);
    g.offer(8, None, t0);
    let until = t0 + CIRCUIT.cooldown;
    assert_eq!(
        g.next(t0),
        Next::Postpone {
            jobs: vec![7, 8],
            until
        }
    );
    assert_eq!(g.open_until(), Some(until));
    g.offer(9, None, until);
    g.offer(10, None, until);
    assert_eq!(start(&mut g, until), Some((9, true)));
    let finished = g.finished(until, AttemptResult::Succeeded, true);
    assert_eq!(finished.transition, Some(CircuitState::Closed));
    assert_eq!(start(&mut g, until), Some((10, false)));
}

#[test]
fn an_unrecorded_probe_lets_another_probe_go() {
    let t0 = Instant::now();
    let mut g = gate(10, 2, t0);
    for job in 0..3 {
        g.offer(job, None, t0);
        start(&mut g, t0);
        g.finished(t0, AttemptResult::Failed, false);
    }
    let later = t0 + CIRCUIT.cooldown;
    g.offer(1, None, later);
    assert_eq!(start(&mut g, later), Some((1, true)));
    g.finished(later, AttemptResult::Unrecorded, true);
    assert_eq!(g.circuit(later), CircuitState::HalfOpen);
    g.offer(2, None, later);
    assert_eq!(start(&mut g, later), Some((2, true)));
}

#[test]
fn a_waiting_job_needs_a_slot_unless_the_endpoint_drains_fast() {
    let t0 = Instant::now();
    let mut g = gate(100, 1, t0);
    g.offer(1, None, t0);
    assert!(start(&mut g, t0).is_some());
    g.offer(2, None, t0);
    // Must wait: takes a slot when there is one.
    assert_eq!(g.settle_newest(t0, || Some(())), None);
    g.offer(3, None, t0);
    // No slot and no measured throughput: spills.
    assert_eq!(g.settle_newest(t0, || None), Some((3, SPILL_DELAY)));
    // An endpoint that finished 50 attempts in the last second may keep ~500 slotless.
    let mut t = t0;
    for _ in 0..50 {
        t += Duration::from_millis(20);
        g.finished(t, AttemptResult::Succeeded, false);
        g.offer(0, None, t);
        assert!(start(&mut g, t).is_some());
    }
    g.offer(4, None, t);
    assert_eq!(g.settle_newest(t, || None), None);
}

#[test]
fn an_endpoint_that_slows_down_sheds_its_slotless_backlog() {
    let t0 = Instant::now();
    let mut g = gate(1000, 1, t0);
    let mut t = t0;
    for i in 0..20 {
        t += Duration::from_millis(50);
        g.offer(i, None, t);
        start(&mut g, t);
        g.finished(t, AttemptResult::Succeeded, false);
    }
    for i in 100..150 {
        g.offer(i, None, t);
        assert_eq!(g.settle_newest(t, || None), None, "kept: fast enough");
    }
    assert!(start(&mut g, t).is_some());
    // The next attempt takes 10 s: the endpoint is slow now.
    let later = t + Duration::from_secs(10);
    let finished = g.finished(later, AttemptResult::Succeeded, false);
    assert!(!finished.shed.is_empty());
    assert!(g.queued() <= 1, "{} left", g.queued());
}

#[test]
fn idleness_needs_an_empty_quiet_gate_and_a_closed_circuit() {
    let t0 = Instant::now();
    let idle = Duration::from_secs(60);
    let mut g = gate(10, 1, t0);
    assert!(!g.is_idle(t0, idle));
    assert!(g.is_idle(t0 + idle, idle));
    g.offer(1, None, t0);
    assert!(!g.is_idle(t0 + idle, idle));
    start(&mut g, t0);
    for _ in 0..3 {
        g.finished(t0, AttemptResult::Failed, false);
        g.offer(1, None, t0);
        start(&mut g, t0);
    }
    let later = t0 + idle;
    g.finished(t0, AttemptResult::Failed, false);
    assert!(!g.is_idle(later, idle), "open circuit");
}

#[test]
fn throttling_halves_the_rate_and_successes_raise_it_back() {
    let t0 = Instant::now();
    // A breaker that never opens here: this is about the rate only.
    let patient = CircuitConfig {
        failure_threshold: 1000,
        ..CIRCUIT
    };
    let mut g: Gate<u32, ()> = Gate::new(
        Limits {
            queue_capacity: 100,
            max_in_flight: 1,
            default_rate: None,
        },
        CircuitBreaker::new(&patient),
        t0,
    );
    let mut t = t0;
    let run = |g: &mut Gate<u32, ()>, t: &mut Instant, result| {
        g.offer(0, Some(8), *t);
        loop {
            match g.next(*t) {
                Next::Start { .. } => break,
                Next::WaitFor(wait) => *t += wait,
                other => panic!("{other:?}"),
            }
        }
        g.finished(*t, result, false)
    };
    let finished = run(&mut g, &mut t, AttemptResult::Throttled);
    assert_eq!(finished.adaptive, Some(Some(4)));
    assert_eq!(
        run(&mut g, &mut t, AttemptResult::Throttled).adaptive,
        Some(Some(2))
    );
    for _ in 0..3 {
        run(&mut g, &mut t, AttemptResult::Throttled);
    }
    assert_eq!(g.adaptive_rate(), Some(1), "never below 1/s");
    // Two starts now stand a second apart.
    g.offer(0, Some(8), t);
    let wait = match g.next(t) {
        Next::WaitFor(wait) => wait,
        other => panic!("{other:?}"),
    };
    assert!(wait > Duration::from_millis(900), "{wait:?}");
    // Successes raise it back step by step until the endpoint's own rate applies again.
    let mut lifted = None;
    for i in 0..200 {
        if let Some(None) = run(&mut g, &mut t, AttemptResult::Succeeded).adaptive {
            lifted = Some(i);
            break;
        }
    }
    let lifted = lifted.expect("lifted");
    assert!(
        lifted > ADAPTIVE_STEP_EVERY as usize,
        "step by step: {lifted}"
    );
    assert_eq!(g.adaptive_rate(), None);
}

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    Offer { slot: bool },
    Pump,
    Finish(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<bool>().prop_map(|slot| Op::Offer { slot }),
        Just(Op::Pump),
        (0u8..4).prop_map(Op::Finish),
        (1u16..2000).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Whatever happens: caps hold, every job is accounted for exactly once, and starts
    /// never come closer together than the rate limit allows.
    #[test]
    fn caps_hold_and_no_job_is_lost(
        ops in proptest::collection::vec(op(), 1..300),
        capacity in 1usize..20,
        max_in_flight in 1usize..5,
        rate in proptest::option::of(1u32..50),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut g: Gate<u32, ()> = Gate::new(
            Limits { queue_capacity: capacity, max_in_flight, default_rate: None },
            CircuitBreaker::new(&CIRCUIT),
            now,
        );
        let (mut offered, mut started, mut out) = (0u32, 0u32, 0u32);
        let mut running: Vec<bool> = Vec::new();
        let mut last_start: Option<Instant> = None;
        for op in ops {
            match op {
                Op::Offer { slot } => {
                    offered += 1;
                    if let Admit::Spill { .. } = g.offer(offered, rate, now) {
                        out += 1;
                    }
                    if g.settle_newest(now, || slot.then_some(())).is_some() {
                        out += 1;
                    }
                }
                Op::Pump => loop {
                    match g.next(now) {
                        Next::Start { probe, .. } => {
                            started += 1;
                            running.push(probe);
                            if let (Some(rate), Some(last)) = (rate, last_start) {
                                let spacing = Duration::from_secs_f64(1.0 / f64::from(rate));
                                prop_assert!(now - last + Duration::from_micros(1) >= spacing);
                            }
                            last_start = Some(now);
                        }
                        Next::Postpone { jobs, .. } => out += jobs.len() as u32,
                        Next::WaitFor(_) | Next::Nothing => break,
                    }
                },
                Op::Finish(kind) => {
                    if let Some(probe) = running.pop() {
                        let result = [
                            AttemptResult::Succeeded,
                            AttemptResult::Failed,
                            AttemptResult::Unrecorded,
                            AttemptResult::Throttled,
                        ][kind as usize];
                        out += g.finished(now, result, probe).shed.len() as u32;
                    }
                }
                Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
            }
            prop_assert!(g.in_flight() <= max_in_flight);
            prop_assert_eq!(g.in_flight(), running.len());
            prop_assert!(g.queued() <= capacity);
            prop_assert_eq!(offered, started + out + g.queued() as u32);
        }
    }
}

#[test]
fn a_fresh_endpoint_is_judged_by_what_it_finished_so_far() {
    let t0 = Instant::now();
    let mut fast = gate(100, 16, t0);
    let mut hanging = gate(100, 16, t0);
    for g in [&mut fast, &mut hanging] {
        for job in 0..16 {
            g.offer(job, None, t0);
            assert!(start(g, t0).is_some());
        }
    }
    // 10 ms in: the fast one answered all 16 (counted over 100 ms: 160/s, ~1,600 may wait
    // without a slot); the hanging one answered none.
    let t = t0 + Duration::from_millis(10);
    for _ in 0..16 {
        fast.finished(t, AttemptResult::Succeeded, false);
    }
    for job in 100..116 {
        fast.offer(job, None, t);
        start(&mut fast, t);
    }
    fast.offer(200, None, t);
    assert_eq!(fast.settle_newest(t, || None), None, "kept: drains fast");
    hanging.offer(200, None, t);
    assert_eq!(
        hanging.settle_newest(t, || None),
        Some((200, SPILL_DELAY)),
        "spilled: nothing answered yet"
    );
}
