//! Wire-format benchmarks: `cargo bench -p wzp-proto --bench proto`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wzp_proto::*;

fn header() -> MediaHeader {
    let mut h = MediaHeader::new(
        CodecId::Opus24k,
        StreamId(0),
        Seq(1000),
        TimestampMs(20_000),
    );
    h.flags.frame_end = true;
    h
}

fn media(c: &mut Criterion) {
    let h = header();
    let bytes = h.encode();
    let mut g = c.benchmark_group("media_header");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| b.iter(|| black_box(black_box(&h).encode())));
    g.bench_function("decode", |b| {
        b.iter(|| MediaHeader::decode(black_box(&bytes)).unwrap())
    });
    g.finish();

    // A 50-packet run of Opus frames (1 full + 49 mini), compressed then expanded.
    let payload = [0x55u8; 60];
    let mut comp = Compressor::new();
    let frames: Vec<Vec<u8>> = (0..50u32)
        .map(|i| {
            let mut hh = h;
            hh.seq = Seq(1000 + i);
            hh.timestamp = TimestampMs(20_000 + 20 * i);
            let mut out = Vec::new();
            comp.write_header(&hh, payload.len(), &mut out);
            out.extend_from_slice(&payload);
            out
        })
        .collect();
    let mut g = c.benchmark_group("compact");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("expand_50_packets", |b| {
        b.iter(|| {
            let mut e = Expander::new();
            for f in &frames {
                black_box(e.expand(black_box(f)).unwrap());
            }
        })
    });
    g.bench_function("compress_50_packets", |b| {
        let mut out = Vec::with_capacity(128);
        b.iter(|| {
            let mut comp = Compressor::new();
            for i in 0..50u32 {
                let mut hh = h;
                hh.seq = Seq(1000 + i);
                hh.timestamp = TimestampMs(20_000 + 20 * i);
                out.clear();
                black_box(comp.write_header(black_box(&hh), 60, &mut out));
            }
        })
    });
    g.finish();
}

fn signal(c: &mut Criterion) {
    let msgs = [
        (
            "ping",
            SignalMessage::Ping {
                ts_ms: 1_700_000_000_000,
            },
        ),
        (
            "nack_20",
            SignalMessage::Nack {
                sender: ParticipantId(3),
                stream: StreamId(1),
                seqs: (0..20).map(|i| Seq(100_000 + i)).collect(),
            },
        ),
        (
            "key_envelope_200b",
            SignalMessage::KeyEnvelope {
                from: ParticipantId(1),
                to: ParticipantId(2),
                payload: Blob(vec![0xab; 200]),
            },
        ),
    ];
    let mut g = c.benchmark_group("signal_frame");
    g.throughput(Throughput::Elements(1));
    for (name, m) in &msgs {
        let mut wire = Vec::new();
        write_frame(m, DEFAULT_MAX_FRAME, &mut wire).unwrap();
        g.bench_function(format!("encode_{name}"), |b| {
            let mut out = Vec::with_capacity(512);
            b.iter(|| {
                out.clear();
                write_frame(black_box(m), DEFAULT_MAX_FRAME, &mut out).unwrap();
            })
        });
        g.bench_function(format!("decode_{name}"), |b| {
            let mut d = FrameDecoder::default();
            b.iter(|| {
                d.push(black_box(&wire));
                black_box(d.next_frame().unwrap().unwrap());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, media, signal);
criterion_main!(benches);
