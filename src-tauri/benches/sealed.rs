//! What the passphrase-sealed identity file costs with the parameters new files get
//! (Argon2id 128 MiB, 3 passes, 1 lane) and with RFC 9106's 64 MiB beside it: one open is
//! what every unlock waits for, one seal is what create / restore add.
//!
//! argon2 and blake2 are built with `opt-level = 3` even in the dev profile (Cargo.toml),
//! so the figure is the same without a release build of the whole app:
//! `cargo bench -p wzp-desktop --bench sealed --profile dev`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use rand_core::OsRng;
use wzp_desktop::sealed::{KdfParams, Sealer};

const PASS: &str = "correct horse battery staple";

fn bench(c: &mut Criterion) {
    let seed = [7u8; 32];
    let rfc9106 = KdfParams {
        memory_kib: 64 * 1024,
        time: 3,
        lanes: 1,
    };
    for (name, params) in [
        ("128 MiB t=3 (default)", KdfParams::DEFAULT),
        ("64 MiB t=3", rfc9106),
    ] {
        let sealer = Sealer::with_params(params).unwrap();
        let file = sealer.seal(&seed, PASS, &mut OsRng).unwrap();
        let mut g = c.benchmark_group(format!("sealed identity file, {name}"));
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(15));
        g.bench_function("open (unlock)", |b| {
            b.iter(|| sealer.open(black_box(&file), PASS).unwrap())
        });
        g.bench_function("seal (create / restore)", |b| {
            b.iter(|| sealer.seal(black_box(&seed), PASS, &mut OsRng).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
