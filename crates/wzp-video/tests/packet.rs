//! Packetizer/depacketizer: round trips, FU-A boundaries, wrap, loss and reorder.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use wzp_proto::{Seq, StreamId, TimestampMs};
use wzp_video::packet::split_annex_b;
use wzp_video::{Depacketizer, DepacketizerEvent, Packetizer, VideoPacket};

/// An access unit from NAL bodies: first byte is the header (type in the low bits).
fn au(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in nals {
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(n);
    }
    v
}

/// A NAL of `len` bytes that contains no start-code pattern and does not end in 0.
fn nal(ty: u8, len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0x60 | ty];
    v.extend((1..len).map(|i| ((i as u8).wrapping_mul(31).wrapping_add(seed)) | 1));
    v
}

fn frames(out: &[DepacketizerEvent]) -> Vec<&wzp_video::AccessUnit> {
    out.iter()
        .filter_map(|e| match e {
            DepacketizerEvent::Frame(a) => Some(a),
            _ => None,
        })
        .collect()
}

#[test]
fn keyframe_gets_parameter_sets_and_flags() {
    let mut p = Packetizer::new(StreamId(0), 100, Seq(u32::MAX - 2)).unwrap();
    let sps = nal(7, 10, 1);
    let pps = nal(8, 5, 2);
    let mut out = Vec::new();
    // First keyframe carries SPS/PPS itself.
    p.packetize(
        &au(&[sps.clone(), pps.clone(), nal(5, 250, 3)]),
        true,
        TimestampMs(0),
        &mut out,
    )
    .unwrap();
    let n_first = out.len();
    // Second keyframe lacks them: the packetizer adds the cached ones.
    p.packetize(&au(&[nal(5, 50, 4)]), false, TimestampMs(33), &mut out)
        .unwrap();
    assert!(out.iter().all(|p| p.header.flags.keyframe));
    assert_eq!(out[n_first].payload, sps);
    assert_eq!(out[n_first + 1].payload, pps);
    for (i, pk) in out.iter().enumerate() {
        assert!(pk.payload.len() <= 100);
        assert_eq!(
            pk.header.flags.frame_end,
            i == n_first - 1 || i == out.len() - 1
        );
        assert_eq!(pk.header.seq, Seq((u32::MAX - 2).wrapping_add(i as u32)));
    }
    // Round trip across the u32 wrap, through datagram bytes.
    let mut d = Depacketizer::new(Duration::from_millis(100), 1024);
    let mut ev = Vec::new();
    let now = Instant::now();
    for pk in &out {
        d.push_datagram(&pk.to_datagram(), now, &mut ev).unwrap();
    }
    let f = frames(&ev);
    assert_eq!(f.len(), 2);
    assert_eq!(
        split_annex_b(&f[1].data),
        vec![&sps[..], &pps[..], &nal(5, 50, 4)[..]]
    );
}

#[test]
fn bad_datagrams_are_errors_not_panics() {
    let mut d = Depacketizer::new(Duration::from_millis(100), 64);
    let now = Instant::now();
    let mut ev = Vec::new();
    let mut p = Packetizer::new(StreamId(0), 64, Seq(0)).unwrap();
    let mut out = Vec::new();
    p.packetize(&au(&[nal(5, 200, 1)]), true, TimestampMs(0), &mut out)
        .unwrap();
    let good = out[0].to_datagram();
    assert!(d.push_datagram(&good[..16], now, &mut ev).is_err());
    assert!(d.push_datagram(&good[..3], now, &mut ev).is_err());
    let mut audio = good.clone();
    audio[2] = 0;
    assert!(d.push_datagram(&audio, now, &mut ev).is_err());
    // Garbage payloads in otherwise valid headers never yield a frame.
    for ty in [0u8, 24, 25, 29, 30, 31] {
        let mut bad = out[0].clone();
        bad.payload[0] = ty;
        bad.header.flags.frame_end = true;
        d.push(bad, now, &mut ev).unwrap();
    }
    assert!(frames(&ev).is_empty());
    assert!(Packetizer::new(StreamId(0), 10, Seq(0)).is_err());
    assert!(
        p.packetize(&[1, 2, 3], false, TimestampMs(0), &mut out)
            .is_err()
    );
}

#[test]
fn waits_for_retransmission_then_gives_up_until_keyframe() {
    let mut p = Packetizer::new(StreamId(1), 200, Seq(10)).unwrap();
    let mut pk = Vec::new();
    p.packetize(
        &au(&[nal(7, 8, 0), nal(8, 4, 0), nal(5, 500, 1)]),
        true,
        TimestampMs(0),
        &mut pk,
    )
    .unwrap();
    let k1 = pk.len();
    p.packetize(&au(&[nal(1, 500, 2)]), false, TimestampMs(33), &mut pk)
        .unwrap();
    let p1 = pk.len();
    p.packetize(&au(&[nal(1, 300, 3)]), false, TimestampMs(66), &mut pk)
        .unwrap();
    let p2 = pk.len();
    p.packetize(&au(&[nal(5, 300, 4)]), true, TimestampMs(99), &mut pk)
        .unwrap();

    let t0 = Instant::now();
    let mut d = Depacketizer::new(Duration::from_millis(100), 1024);
    let mut ev = Vec::new();
    // Lose the middle packet of frame 1: keyframe out, frame 1 and 2 held.
    let lost = k1 + 1;
    for (i, x) in pk[..p2].iter().enumerate() {
        if i != lost {
            d.push(x.clone(), t0, &mut ev).unwrap();
        }
    }
    assert_eq!(frames(&ev).len(), 1);
    assert!(ev.iter().any(
        |e| matches!(e, DepacketizerEvent::Gap { first, count: 1 } if *first == pk[lost].header.seq)
    ));
    // The retransmission arrives in time: both held frames come out, in order.
    d.push(pk[lost].clone(), t0 + Duration::from_millis(50), &mut ev)
        .unwrap();
    let f = frames(&ev);
    assert_eq!(
        f.iter().map(|a| a.timestamp.0).collect::<Vec<_>>(),
        vec![0, 33, 66]
    );

    // Now lose a piece of the next keyframe's predecessor for good: the chain breaks
    // after max_wait, then restarts at the keyframe.
    let mut d = Depacketizer::new(Duration::from_millis(100), 1024);
    let mut ev = Vec::new();
    for (i, x) in pk[..p2].iter().enumerate() {
        if i != lost {
            d.push(x.clone(), t0, &mut ev).unwrap();
        }
    }
    let deadline = d.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_millis(100));
    d.handle_timeout(deadline, &mut ev);
    assert!(
        ev.iter()
            .any(|e| matches!(e, DepacketizerEvent::ChainBroken { .. }))
    );
    assert!(!d.chain_intact());
    // The late packet no longer helps; P-frames are not emitted without their reference.
    d.push(pk[lost].clone(), deadline, &mut ev).unwrap();
    assert_eq!(frames(&ev).len(), 1);
    for x in &pk[p2..] {
        d.push(x.clone(), deadline, &mut ev).unwrap();
    }
    let f = frames(&ev);
    assert_eq!(f.len(), 2);
    assert!(f[1].keyframe && f[1].timestamp == TimestampMs(99));
    let _ = p1;
}

/// Packetizes a stream: keyframe every `gop` frames, arbitrary NAL sizes.
fn stream(
    sizes: &[Vec<usize>],
    gop: usize,
    max_payload: usize,
    first: u32,
) -> (Vec<Vec<u8>>, Vec<VideoPacket>) {
    let mut p = Packetizer::new(StreamId(0), max_payload, Seq(first)).unwrap();
    let mut aus = Vec::new();
    let mut pk = Vec::new();
    for (i, nals) in sizes.iter().enumerate() {
        let key = i % gop == 0;
        let mut list = Vec::new();
        if key {
            list.push(nal(7, 9, i as u8));
            list.push(nal(8, 4, i as u8));
        }
        for (j, &len) in nals.iter().enumerate() {
            list.push(nal(if key { 5 } else { 1 }, len, (i + j) as u8));
        }
        let a = au(&list);
        p.packetize(&a, key, TimestampMs(i as u32 * 33), &mut pk)
            .unwrap();
        aus.push(a);
    }
    (aus, pk)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_arbitrary_nal_sizes(
        sizes in prop::collection::vec(prop::collection::vec(1usize..4000, 1..4), 1..12),
        max_payload in 64usize..1400,
        first in any::<u32>(),
    ) {
        let (aus, pk) = stream(&sizes, 5, max_payload, first);
        let mut d = Depacketizer::new(Duration::from_millis(100), 100_000);
        let mut ev = Vec::new();
        let now = Instant::now();
        for x in &pk {
            prop_assert!(x.payload.len() <= max_payload);
            d.push_datagram(&x.to_datagram(), now, &mut ev).unwrap();
        }
        let f = frames(&ev);
        prop_assert_eq!(f.len(), aus.len());
        for (a, b) in f.iter().zip(&aus) {
            prop_assert_eq!(&a.data, b);
        }
    }

    #[test]
    fn random_loss_and_reorder_never_yield_a_corrupt_frame(
        sizes in prop::collection::vec(prop::collection::vec(1usize..3000, 1..3), 1..30),
        loss_mask in prop::collection::vec(0u8..100, 200),
        loss_pct in 0u8..40,
        swaps in prop::collection::vec((0usize..500, 0usize..500), 0..20),
        first in any::<u32>(),
    ) {
        let (aus, pk) = stream(&sizes, 7, 300, first);
        let mut order: Vec<usize> = (0..pk.len()).collect();
        for (a, b) in swaps {
            let n = order.len();
            order.swap(a % n, b % n);
        }
        let mut d = Depacketizer::new(Duration::from_millis(100), 100_000);
        let mut ev = Vec::new();
        let t0 = Instant::now();
        for (k, &i) in order.iter().enumerate() {
            if loss_mask[i % loss_mask.len()] < loss_pct {
                continue;
            }
            let now = t0 + Duration::from_millis(k as u64 * 5);
            d.handle_timeout(now, &mut ev);
            d.push(pk[i].clone(), now, &mut ev).unwrap();
        }
        // Every emitted frame equals the one sent at its timestamp, in increasing
        // order, and a P-frame only follows its predecessor (chain intact) or is absent.
        let f = frames(&ev);
        let mut prev: Option<usize> = None;
        for a in f {
            let idx = (a.timestamp.0 / 33) as usize;
            prop_assert_eq!(&a.data, &aus[idx]);
            if let Some(p) = prev {
                prop_assert!(idx > p);
                if !a.keyframe {
                    prop_assert_eq!(idx, p + 1, "P-frame {} after {}", idx, p);
                }
            } else {
                prop_assert!(a.keyframe);
            }
            prev = Some(idx);
        }
    }
}
