//! H.264 throughput at 1280x720: encode (one thread, as a call runs it) and decode.
//!
//! `cargo bench -p wzp-video --bench h264 -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wzp_video::codec::EncoderSpeed;
use wzp_video::{EncoderSettings, H264Decoder, H264Encoder, SyntheticSource};

const GOP: u64 = 30;

fn frames() -> Vec<wzp_video::I420Frame> {
    let src = SyntheticSource::new(1280, 720, 30).unwrap();
    (0..GOP).map(|i| src.render(i).unwrap()).collect()
}

fn encode(c: &mut Criterion) {
    let frames = frames();
    let mut g = c.benchmark_group("h264_720p");
    g.throughput(Throughput::Elements(1));
    for (name, speed, threads) in [
        ("encode_fast_1thread", EncoderSpeed::Fast, 1),
        ("encode_balanced_1thread", EncoderSpeed::Balanced, 1),
        ("encode_fast_2threads", EncoderSpeed::Fast, 2),
    ] {
        let mut enc = H264Encoder::new(EncoderSettings {
            speed,
            threads,
            ..EncoderSettings::hd()
        })
        .unwrap();
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let f = &frames[i % frames.len()];
                i += 1;
                enc.encode(f).unwrap().expect("skip_frames is off")
            });
        });
    }
    // Decode: one 30-frame group (IDR + 29 P) per iteration, fresh decoder each time.
    let mut enc = H264Encoder::new(EncoderSettings::hd()).unwrap();
    let aus: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| enc.encode(f).unwrap().unwrap().data)
        .collect();
    g.throughput(Throughput::Elements(GOP));
    g.bench_function("decode_gop30", |b| {
        b.iter(|| {
            let mut dec = H264Decoder::new().unwrap();
            for au in &aus {
                dec.decode(au).unwrap().expect("picture");
            }
        });
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
