//! The sans-IO link with a fake clock: every behaviour of an impairment, exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use wzp_netsim::{GilbertElliott, Impairment, Link, LinkStats, Outage, Packet, RateLimit};

const MS: Duration = Duration::from_millis(1);

fn pkt(i: u32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn id(p: &Packet) -> u32 {
    u32::from_be_bytes(p.data[..4].try_into().unwrap())
}

/// Sends `n` packets, one every `gap`, draining as it goes; returns (arrival time, id).
fn run(link: &mut Link, start: Instant, n: u32, gap: Duration) -> Vec<(Instant, u32)> {
    run_sized(link, start, n, gap, 4)
}

fn run_sized(
    link: &mut Link,
    start: Instant,
    n: u32,
    gap: Duration,
    size: usize,
) -> Vec<(Instant, u32)> {
    let mut out = Vec::new();
    let mut now = start;
    for i in 0..n {
        now = start + gap * i;
        drain(link, now, &mut out);
        let mut data = pkt(i);
        data.resize(size.max(4), 0);
        link.handle_packet(now, data);
        drain(link, now, &mut out);
    }
    // Let everything in flight out.
    while let Some(t) = link.poll_timeout() {
        now = now.max(t);
        drain(link, now, &mut out);
    }
    out
}

fn drain(link: &mut Link, now: Instant, out: &mut Vec<(Instant, u32)>) {
    while let Some(p) = link.poll_transmit(now) {
        out.push((now, id(&p)));
    }
}

fn balanced(s: &LinkStats, in_flight: usize) {
    assert_eq!(
        s.received + s.duplicated,
        s.delivered + s.dropped() + in_flight as u64,
        "{s:?}"
    );
}

#[test]
fn perfect_link_delivers_everything_immediately_in_order() {
    let t0 = Instant::now();
    let mut l = Link::new(Impairment::none(), 1, t0).unwrap();
    let out = run(&mut l, t0, 100, MS);
    assert_eq!(out.len(), 100);
    for (i, (t, id)) in out.iter().enumerate() {
        assert_eq!(*id, i as u32);
        assert_eq!(*t, t0 + MS * i as u32);
    }
    assert_eq!(l.stats().delivered, 100);
    assert_eq!(l.stats().reordered, 0);
}

#[test]
fn loss_rate_within_bounds() {
    let t0 = Instant::now();
    let imp = Impairment {
        loss: 0.2,
        ..Impairment::none()
    };
    let mut l = Link::new(imp, 7, t0).unwrap();
    let n = 20_000;
    let out = run(&mut l, t0, n, MS);
    let s = l.stats();
    // sd = sqrt(n p (1-p)) ~ 57: allow 5 sd.
    assert!((3_715..=4_285).contains(&s.dropped_loss), "{s:?}");
    assert_eq!(out.len() as u64, u64::from(n) - s.dropped_loss);
    assert_eq!(s.dropped_burst, 0);
    balanced(&s, l.in_flight());
}

#[test]
fn burst_loss_comes_in_runs() {
    let t0 = Instant::now();
    let ge = GilbertElliott {
        p_good_to_bad: 0.02,
        p_bad_to_good: 0.2,
        loss_in_bad: 1.0,
    };
    let imp = Impairment {
        burst: Some(ge),
        ..Impairment::none()
    };
    let mut l = Link::new(imp, 11, t0).unwrap();
    let n = 50_000u32;
    let out = run(&mut l, t0, n, MS);
    let got: std::collections::HashSet<u32> = out.iter().map(|(_, i)| *i).collect();
    // Lengths of runs of lost packets.
    let mut runs = Vec::new();
    let mut cur = 0u32;
    for i in 0..n {
        if got.contains(&i) {
            if cur > 0 {
                runs.push(cur);
            }
            cur = 0;
        } else {
            cur += 1;
        }
    }
    let s = l.stats();
    let rate = s.dropped_burst as f64 / f64::from(n);
    let expected = ge.mean_loss(); // 0.0909
    assert!((rate - expected).abs() < 0.02, "rate {rate} vs {expected}");
    let mean_run = runs.iter().map(|&r| f64::from(r)).sum::<f64>() / runs.len() as f64;
    // Mean bad-state length is 1 / p_bad_to_good = 5; independent loss at 9% would give ~1.1.
    assert!((4.0..6.0).contains(&mean_run), "mean run {mean_run}");
    assert!(runs.iter().any(|&r| r >= 10), "no long burst");
    assert_eq!(s.dropped_loss, 0);
}

#[test]
fn delay_is_exact() {
    let t0 = Instant::now();
    let d = Duration::from_millis(50);
    let mut l = Link::new(
        Impairment {
            delay: d,
            ..Impairment::none()
        },
        3,
        t0,
    )
    .unwrap();
    l.handle_packet(t0, pkt(0));
    l.handle_packet(t0 + MS, pkt(1));
    assert_eq!(l.poll_timeout(), Some(t0 + d));
    assert!(l.poll_transmit(t0 + d - Duration::from_nanos(1)).is_none());
    assert_eq!(id(&l.poll_transmit(t0 + d).unwrap()), 0);
    assert!(l.poll_transmit(t0 + d).is_none());
    assert_eq!(l.poll_timeout(), Some(t0 + d + MS));
    assert_eq!(id(&l.poll_transmit(t0 + d + MS).unwrap()), 1);
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn jitter_stays_in_bounds_and_keeps_order() {
    let t0 = Instant::now();
    let delay = Duration::from_millis(20);
    let jitter = Duration::from_millis(30);
    let mut l = Link::new(
        Impairment {
            delay,
            jitter,
            ..Impairment::none()
        },
        5,
        t0,
    )
    .unwrap();
    let gap = 5 * MS;
    let mut sent = Vec::new();
    let mut out = Vec::new();
    for i in 0..2_000u32 {
        let now = t0 + gap * i;
        drain_exact(&mut l, now, &mut out);
        l.handle_packet(now, pkt(i));
        sent.push(now);
    }
    drain_exact(&mut l, t0 + Duration::from_secs(3600), &mut out);
    assert_eq!(out.len(), 2_000);
    let mut min = Duration::MAX;
    let mut max = Duration::ZERO;
    for (k, (t, i)) in out.iter().enumerate() {
        assert_eq!(*i as usize, k, "jitter reordered");
        let lat = *t - sent[*i as usize];
        min = min.min(lat);
        max = max.max(lat);
        assert!(lat >= delay && lat <= delay + jitter, "{lat:?}");
    }
    // It does vary, over most of the range.
    assert!(
        min < delay + 3 * MS && max > delay + jitter - 3 * MS,
        "{min:?}..{max:?}"
    );
    assert_eq!(l.stats().reordered, 0);
}

/// Drains releasing each packet at exactly its due time.
fn drain_exact(l: &mut Link, until: Instant, out: &mut Vec<(Instant, u32)>) {
    while let Some(t) = l.poll_timeout() {
        if t > until {
            break;
        }
        while let Some(p) = l.poll_transmit(t) {
            out.push((t, id(&p)));
        }
    }
}

#[test]
fn reorder_happens_and_is_counted() {
    let t0 = Instant::now();
    let mut l = Link::new(
        Impairment {
            delay: 10 * MS,
            reorder: 0.1,
            reorder_delay: 15 * MS,
            ..Impairment::none()
        },
        9,
        t0,
    )
    .unwrap();
    let out = run(&mut l, t0, 5_000, 2 * MS);
    assert_eq!(out.len(), 5_000);
    // Count packets that arrive after a higher id.
    let mut max = None;
    let mut late = 0u64;
    for (_, i) in &out {
        match max {
            Some(m) if *i < m => late += 1,
            _ => max = Some(*i),
        }
    }
    let s = l.stats();
    assert!(late > 350 && late < 650, "late {late}");
    assert_eq!(s.reordered, late);
}

#[test]
fn duplicates_are_delivered_and_counted() {
    let t0 = Instant::now();
    let mut l = Link::new(
        Impairment {
            duplicate: 0.1,
            delay: 5 * MS,
            ..Impairment::none()
        },
        13,
        t0,
    )
    .unwrap();
    let out = run(&mut l, t0, 5_000, MS);
    let s = l.stats();
    assert!(s.duplicated > 400 && s.duplicated < 600, "{s:?}");
    assert_eq!(out.len() as u64, 5_000 + s.duplicated);
    // A duplicate follows its original directly; nothing counts as reordered.
    let dups = out.windows(2).filter(|w| w[0].1 == w[1].1).count() as u64;
    assert_eq!(dups, s.duplicated);
    assert_eq!(s.reordered, 0);
    balanced(&s, l.in_flight());
}

#[test]
fn rate_limit_gives_configured_throughput_and_drops_when_full() {
    let t0 = Instant::now();
    // 1 Mbit/s, 50 ms of queue (6250 bytes); offer 2 Mbit/s of 1000-byte packets.
    let rate = RateLimit::with_queue_delay(1_000_000, 50 * MS);
    assert_eq!(rate.queue_bytes, 6_250);
    let mut l = Link::new(
        Impairment {
            rate_limit: Some(rate),
            ..Impairment::none()
        },
        17,
        t0,
    )
    .unwrap();
    let out = run_sized(&mut l, t0, 2_000, 4 * MS, 1_000); // 8 s of offered load
    let s = l.stats();
    // Delivered bytes over the time it took: 1 Mbit/s (each packet takes 8 ms).
    let first = out.first().unwrap().0;
    let last = out.last().unwrap().0;
    let secs = (last - first).as_secs_f64();
    let bps = (out.len() - 1) as f64 * 8_000.0 / secs;
    assert!((bps - 1_000_000.0).abs() < 10_000.0, "{bps} bit/s");
    // About half the offered packets do not fit.
    assert!(s.dropped_queue > 900 && s.dropped_queue < 1_100, "{s:?}");
    // Queueing delay never exceeds what the queue holds (+ one packet being sent).
    balanced(&s, l.in_flight());

    // Under the rate nothing is dropped and packets are only delayed by serialisation.
    let mut l = Link::new(
        Impairment {
            rate_limit: Some(rate),
            ..Impairment::none()
        },
        17,
        t0,
    )
    .unwrap();
    let out = run_sized(&mut l, t0, 200, 10 * MS, 1_000);
    assert_eq!(out.len(), 200);
    assert_eq!(l.stats().dropped_queue, 0);
}

#[test]
fn rate_limit_queue_delay_is_bounded() {
    let t0 = Instant::now();
    let mut l = Link::new(
        Impairment {
            rate_limit: Some(RateLimit::with_queue_delay(1_000_000, 50 * MS)),
            ..Impairment::none()
        },
        1,
        t0,
    )
    .unwrap();
    // A burst of 20 packets at once: 6 fit (6000 of 6250 bytes), the rest drop.
    for i in 0..20 {
        l.handle_packet(t0, {
            let mut v = pkt(i);
            v.resize(1_000, 0);
            v
        });
    }
    assert_eq!(l.stats().dropped_queue, 14);
    let mut out = Vec::new();
    drain_exact(&mut l, t0 + Duration::from_secs(1), &mut out);
    let times: Vec<Duration> = out.iter().map(|(t, _)| *t - t0).collect();
    assert_eq!(times, (1..=6).map(|k| 8 * MS * k).collect::<Vec<_>>());
}

#[test]
fn outage_drops_everything_then_resumes() {
    let t0 = Instant::now();
    let mut l = Link::new(
        Impairment {
            outages: vec![Outage {
                start: Duration::from_millis(100),
                duration: Duration::from_millis(200),
            }],
            ..Impairment::none()
        },
        19,
        t0,
    )
    .unwrap();
    let out = run(&mut l, t0, 500, MS);
    let ids: Vec<u32> = out.iter().map(|(_, i)| *i).collect();
    let expected: Vec<u32> = (0..100).chain(300..500).collect();
    assert_eq!(ids, expected);
    assert_eq!(l.stats().dropped_outage, 200);

    // Manual switch.
    let mut l = Link::new(Impairment::none(), 19, t0).unwrap();
    l.handle_packet(t0, pkt(0));
    l.set_outage(true);
    assert!(l.in_outage(t0));
    l.handle_packet(t0, pkt(1));
    l.set_outage(false);
    l.handle_packet(t0, pkt(2));
    let mut out = Vec::new();
    drain(&mut l, t0, &mut out);
    assert_eq!(out.iter().map(|(_, i)| *i).collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(l.stats().dropped_outage, 1);
}

#[test]
fn outage_keeps_packets_already_in_flight() {
    let t0 = Instant::now();
    let mut l = Link::new(
        Impairment {
            delay: 50 * MS,
            ..Impairment::none()
        },
        1,
        t0,
    )
    .unwrap();
    l.handle_packet(t0, pkt(0));
    l.set_outage(true);
    assert_eq!(id(&l.poll_transmit(t0 + 50 * MS).unwrap()), 0);
}

#[test]
fn impairment_changes_at_runtime() {
    let t0 = Instant::now();
    let mut l = Link::new(Impairment::none(), 23, t0).unwrap();
    l.handle_packet(t0, pkt(0));
    let t1 = t0 + Duration::from_secs(10);
    l.set_impairment(
        t1,
        Impairment {
            delay: 20 * MS,
            outages: vec![Outage {
                start: 10 * MS,
                duration: 10 * MS,
            }],
            ..Impairment::none()
        },
    )
    .unwrap();
    // The first packet was released already due.
    assert_eq!(id(&l.poll_transmit(t0).unwrap()), 0);
    l.handle_packet(t1, pkt(1));
    l.handle_packet(t1 + 15 * MS, pkt(2)); // inside the outage (counted from t1)
    assert_eq!(l.poll_timeout(), Some(t1 + 20 * MS));
    assert_eq!(l.stats().dropped_outage, 1);
    // A bad impairment is refused and changes nothing.
    assert!(
        l.set_impairment(
            t1,
            Impairment {
                loss: 2.0,
                ..Impairment::none()
            }
        )
        .is_err()
    );
    assert_eq!(l.impairment().delay, 20 * MS);
}

fn everything() -> Impairment {
    Impairment {
        loss: 0.05,
        burst: Some(GilbertElliott {
            p_good_to_bad: 0.01,
            p_bad_to_good: 0.3,
            loss_in_bad: 0.8,
        }),
        delay: 30 * MS,
        jitter: 20 * MS,
        reorder: 0.05,
        reorder_delay: 25 * MS,
        duplicate: 0.02,
        rate_limit: Some(RateLimit::with_queue_delay(2_000_000, 80 * MS)),
        outages: vec![Outage {
            start: Duration::from_millis(500),
            duration: Duration::from_millis(100),
        }],
    }
}

#[test]
fn same_seed_same_output_other_seed_differs() {
    let t0 = Instant::now();
    let go = |seed| {
        let mut l = Link::new(everything(), seed, t0).unwrap();
        let out = run_sized(&mut l, t0, 3_000, MS, 200);
        (
            out.iter().map(|(t, i)| (*t - t0, *i)).collect::<Vec<_>>(),
            l.stats(),
        )
    };
    let a = go(42);
    let b = go(42);
    let c = go(43);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    let s = a.1;
    assert!(s.dropped_loss > 0 && s.dropped_burst > 0 && s.dropped_outage > 0);
    assert!(s.duplicated > 0 && s.reordered > 0);
}

fn arb_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..200).prop_map(Duration::from_millis),
        any::<u64>().prop_map(Duration::from_nanos),
        Just(Duration::MAX),
    ]
}

fn arb_prob() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        0.0..=1.0f64,
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
    ]
}

prop_compose! {
    fn arb_impairment()(
        loss in arb_prob(),
        burst in proptest::option::of((arb_prob(), arb_prob(), arb_prob())),
        delay in arb_duration(),
        jitter in arb_duration(),
        reorder in arb_prob(),
        reorder_delay in arb_duration(),
        duplicate in arb_prob(),
        rate in proptest::option::of((any::<u64>(), any::<u64>())),
        outages in proptest::collection::vec((arb_duration(), arb_duration()), 0..3),
    ) -> Impairment {
        Impairment {
            loss,
            burst: burst.map(|(a, b, c)| GilbertElliott { p_good_to_bad: a, p_bad_to_good: b, loss_in_bad: c }),
            delay,
            jitter,
            reorder,
            reorder_delay,
            duplicate,
            rate_limit: rate.map(|(bits_per_second, queue_bytes)| RateLimit { bits_per_second, queue_bytes }),
            outages: outages.into_iter().map(|(start, duration)| Outage { start, duration }).collect(),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Packet(usize),
    Advance(u64),
    Poll,
    Outage(bool),
    Set(Impairment),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..2_000).prop_map(Op::Packet),
        4 => (0u64..100_000_000).prop_map(Op::Advance),
        4 => Just(Op::Poll),
        1 => any::<bool>().prop_map(Op::Outage),
        1 => arb_impairment().prop_map(Op::Set),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// No configuration or input sequence panics; invalid settings are refused; the
    /// counters always balance and nothing is released early.
    #[test]
    fn no_config_or_input_panics(
        first in arb_impairment(),
        seed in any::<u64>(),
        ops in proptest::collection::vec(arb_op(), 0..200),
    ) {
        let t0 = Instant::now();
        let valid = first.validate().is_ok();
        let made = Link::new(first, seed, t0);
        prop_assert_eq!(made.is_ok(), valid);
        let Ok(mut l) = made else { return Ok(()) };
        let mut now = t0;
        for op in ops {
            match op {
                Op::Packet(n) => l.handle_packet(now, vec![0u8; n]),
                Op::Advance(ns) => now += Duration::from_nanos(ns),
                Op::Poll => {
                    while l.poll_transmit(now).is_some() {}
                    if let Some(t) = l.poll_timeout() {
                        prop_assert!(t > now);
                    }
                }
                Op::Outage(on) => l.set_outage(on),
                Op::Set(imp) => {
                    let ok = imp.validate().is_ok();
                    prop_assert_eq!(l.set_impairment(now, imp).is_ok(), ok);
                }
            }
            let s = l.stats();
            prop_assert_eq!(s.received + s.duplicated, s.delivered + s.dropped() + l.in_flight() as u64);
        }
    }
}
