//! Speech quality under loss: a speech WAV goes through Opus encode ->
//! simulated network (seeded Gilbert-Elliott loss with bursts, 0-80 ms jitter)
//! -> jitter buffer -> decode/recovery/PLC, and each output is scored against
//! the input with PESQ wideband (tools/pesq_score.py, Python `pesq`).
//!
//! The RaptorQ rows wrap the Opus packets in wzp-fec blocks the way the call
//! engine protects audio on lossy paths (wzp_engine::protection: 15 frames per
//! block, repair spread over the next block, playout held 500 ms behind).
//!
//! Run: `cargo run --release -p wzp-audio --example quality_bench -- [input.wav] [out_dir]`
//! (defaults: assets/speech_48k.wav, target/quality-bench). `WZP_QB_SEEDS=N` scores
//! each cell with loss seeds 1..=N and prints the mean; `WZP_QB_DEBUG=1` prints the
//! jitter-buffer and FEC counters and the score of every run. Without Python and
//! `pesq` it still writes the WAVs and prints "n/a" as the score.
//!
//! For exploring protection settings: `WZP_QB_RQ=k15x2.0d1@500,k5x2.0d3@400`
//! runs only such RaptorQ rows (k frames per block, ratio, interleave depth,
//! playout delay); `WZP_QB_CODECS=32k,24k` and `WZP_QB_LOSSES=10,30` narrow the
//! table; `WZP_QB_FIRST_SEED=11` moves the seed range; `WZP_QB_RESIDUAL=1` skips
//! PESQ and prints the share of frames still missing at playout (fast enough for
//! 40 seeds a row).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use wzp_audio::io::write_wav;
use wzp_audio::{
    AudioReceiver, AudioSource, EncoderConfig, FrameOrigin, OpusEncoder, Pull, ReceiverConfig,
    Recovery, WavSource,
};
use wzp_fec::{FecConfig, FecDecoder, FecEncoder, FecPacket};
use wzp_proto::{CodecId, FecRatio, Seq, TimestampMs};

/// One pipeline variant.
#[derive(Clone)]
struct Variant {
    name: String,
    enc: fn(CodecId, u8) -> EncoderConfig,
    recovery: Option<Recovery>,
    plc: bool,
    /// RaptorQ block FEC (wzp-fec) around the Opus packets, and the playout
    /// delay the receiver holds so that late repair symbols still arrive in time.
    raptorq: Option<RaptorQ>,
}

/// A RaptorQ setting for the bench: k source frames per block, repair ratio,
/// interleave depth (blocks the repair symbols are spread over) and the jitter
/// buffer's minimum delay.
#[derive(Clone, Copy)]
struct RaptorQ {
    k: u8,
    ratio: f32,
    depth: u8,
    delay_ms: u32,
}

impl RaptorQ {
    fn config(self) -> FecConfig {
        FecConfig {
            frames_per_block: self.k,
            ratio: FecRatio::from_ratio(self.ratio),
            interleave_depth: self.depth,
            ..FecConfig::default()
        }
    }
}

/// In-band FEC only (the clean-link default), loss hint floored at 5% as
/// the quality controller does.
fn wzp_fec_enc(c: CodecId, loss: u8) -> EncoderConfig {
    EncoderConfig {
        expected_loss_pct: loss.max(5),
        dtx: false,
        ..EncoderConfig::for_codec(c)
    }
}

/// The lossy-link setting: DRED (history growing with loss, 100-300 ms)
/// where the tier can carry it, in-band FEC where it cannot (16k: identical
/// to the FEC row) or where both fit (48k and up).
fn wzp_dred_enc(c: CodecId, loss: u8) -> EncoderConfig {
    EncoderConfig {
        dtx: false,
        ..EncoderConfig::lossy(c, loss.max(5), (10 + loss / 2).min(30))
    }
}

fn plain_enc(c: CodecId, _: u8) -> EncoderConfig {
    EncoderConfig::plain(c)
}

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            name: "plain Opus (no FEC, no PLC)".to_owned(),
            enc: plain_enc,
            recovery: None,
            plc: false,
            raptorq: None,
        },
        Variant {
            name: "Opus + PLC".to_owned(),
            enc: plain_enc,
            recovery: None,
            plc: true,
            raptorq: None,
        },
        Variant {
            name: "WZP: in-band FEC + PLC".to_owned(),
            enc: wzp_fec_enc,
            recovery: Some(Recovery::InbandFec),
            plc: true,
            raptorq: None,
        },
        Variant {
            name: "WZP: DRED + PLC".to_owned(),
            enc: wzp_dred_enc,
            recovery: Some(Recovery::Dred),
            plc: true,
            raptorq: None,
        },
        Variant {
            name: "RaptorQ k15 x1.0 d1 +500ms".to_owned(),
            enc: plain_enc,
            recovery: None,
            plc: true,
            raptorq: Some(RaptorQ {
                k: 15,
                ratio: 1.0,
                depth: 1,
                delay_ms: 500,
            }),
        },
        Variant {
            name: "RaptorQ k15 x2.0 d1 +500ms".to_owned(),
            enc: plain_enc,
            recovery: None,
            plc: true,
            raptorq: Some(RaptorQ {
                k: 15,
                ratio: 2.0,
                depth: 1,
                delay_ms: 500,
            }),
        },
    ]
}

/// Exploration rows from `WZP_QB_RQ`, e.g. `k5x2.0d3@400,k4x2.0d6@560`: RaptorQ
/// around plain Opus + PLC with k frames per block, that ratio, repair spread
/// over d blocks and that playout delay. When set, only these rows run.
fn rows_from_env() -> Option<Vec<Variant>> {
    let spec = std::env::var("WZP_QB_RQ").ok()?;
    let parse = |s: &str| -> Option<RaptorQ> {
        let s = s.trim().strip_prefix('k')?;
        let (k, s) = s.split_once('x')?;
        let (ratio, s) = s.split_once('d')?;
        let (depth, delay) = s.split_once('@')?;
        Some(RaptorQ {
            k: k.parse().ok()?,
            ratio: ratio.parse().ok()?,
            depth: depth.parse().ok()?,
            delay_ms: delay.parse().ok()?,
        })
    };
    Some(
        spec.split(',')
            .map(|s| {
                let r = parse(s).unwrap_or_else(|| panic!("WZP_QB_RQ: cannot read {s:?}"));
                Variant {
                    name: format!("RaptorQ {}", s.trim()),
                    enc: plain_enc,
                    recovery: None,
                    plc: true,
                    raptorq: Some(r),
                }
            })
            .collect(),
    )
}

/// Runs the clip through one variant at `loss_pct` with ~`burst_ms` bursts.
fn run(
    clip: &[f32],
    v: &Variant,
    codec: CodecId,
    loss_pct: u32,
    seed: u64,
) -> (Vec<f32>, wzp_audio::JitterStats) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut enc = OpusEncoder::new((v.enc)(codec, loss_pct as u8)).unwrap();
    let mut jitter = wzp_audio::JitterConfig::default();
    if let Some(r) = v.raptorq {
        jitter.min_delay_ms = r.delay_ms;
    }
    let mut rx = AudioReceiver::new(ReceiverConfig {
        recovery: v.recovery,
        plc: v.plc,
        jitter,
        ..ReceiverConfig::default()
    })
    .unwrap();
    let mut fec = v.raptorq.map(|r| {
        (
            FecEncoder::new(r.config()).unwrap(),
            FecDecoder::new(r.config().symbol_size, Duration::from_secs(2)).unwrap(),
        )
    });
    // Repair packets draw their jitter from their own generator, so the loss
    // pattern (and the rows without RaptorQ) stay identical across variants.
    let mut rng2 = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut wire = Vec::new();
    let mut got = Vec::new();
    let mut src = WavSource::from_samples(clip.to_vec());
    let (mut pcm, mut pkt, mut out) = (vec![0.0; 960], vec![0u8; 1275], vec![0.0; 960]);
    // Gilbert-Elliott: mean burst 8 packets (160 ms), stationary loss = loss_pct.
    let p = f64::from(loss_pct) / 100.0;
    let burst = 8.0;
    let bad_to_good = 1.0 / burst;
    let good_to_bad = if p > 0.0 {
        p / (burst * (1.0 - p))
    } else {
        0.0
    };
    let mut bad = false;
    let uni = |r: &mut ChaCha8Rng| f64::from(r.next_u32()) / f64::from(u32::MAX);
    let t0 = Instant::now();
    // (arrival ms, bytes): a sequence number and the Opus packet, or an FEC
    // packet carrying that as its frame.
    let mut net: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut output = Vec::new();
    let mut started = false;
    let mut sizes = Vec::new();
    let frames = clip.len() / 960 + 60;
    for i in 0..frames as u32 {
        let now_ms = u64::from(i) * 20;
        {
            // Past the end the source gives silence, which flushes the pipeline.
            let _: Pull = src.pull(&mut pcm).unwrap();
            let n = enc.encode(&pcm, &mut pkt).unwrap();
            sizes.push(n);
            bad = if bad {
                uni(&mut rng) >= bad_to_good
            } else {
                uni(&mut rng) < good_to_bad
            };
            let mut frame = i.to_be_bytes().to_vec();
            frame.extend_from_slice(&pkt[..n]);
            let mut packets = Vec::new();
            match &mut fec {
                Some((enc, _)) => {
                    wire.clear();
                    enc.push_frame(&frame, &mut wire).unwrap();
                    for p in &wire {
                        let mut b = Vec::new();
                        p.write(&mut b);
                        packets.push(b);
                    }
                }
                None => packets.push(frame),
            }
            if !bad {
                for (j, p) in packets.into_iter().enumerate() {
                    let r = if j == 0 { &mut rng } else { &mut rng2 };
                    let jitter = u64::from(r.next_u32() % 81);
                    net.push((now_ms + 20 + jitter, p));
                }
            }
        }
        let now = t0 + Duration::from_millis(now_ms);
        net.sort_by_key(|x| x.0);
        while net.first().is_some_and(|x| x.0 <= now_ms) {
            let (_, p) = net.remove(0);
            got.clear();
            match &mut fec {
                Some((_, dec)) => {
                    dec.push(FecPacket::parse(&p).unwrap(), now, &mut got)
                        .unwrap();
                }
                None => got.push(wzp_fec::RecoveredFrame {
                    block: wzp_fec::BlockId(0),
                    index: 0,
                    data: p,
                    recovered: false,
                }),
            }
            for f in &got {
                if let Some((seq, payload)) = f.data.split_first_chunk::<4>() {
                    let seq = u32::from_be_bytes(*seq);
                    rx.insert(Seq(seq), TimestampMs(seq * 20), payload, now);
                }
            }
        }
        let origin = rx.pull(now, &mut out).unwrap();
        if started || origin != FrameOrigin::Silence {
            started = true;
            output.extend_from_slice(&out);
        }
    }
    output.truncate(clip.len());
    if std::env::var_os("WZP_QB_DEBUG").is_some()
        && let Some((_, dec)) = &fec
    {
        sizes.sort_unstable();
        eprintln!(
            "  fec: {:?}; Opus frames: median {} max {} bytes",
            dec.stats(),
            sizes[sizes.len() / 2],
            sizes[sizes.len() - 1]
        );
    }
    (output, rx.stats())
}

fn score(reference: &Path, degraded: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pesq_score.py");
    match std::process::Command::new("python3")
        .arg(script)
        .arg(reference)
        .arg(degraded)
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => "n/a".to_owned(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--convert") {
        // Makes a 48 kHz mono 16-bit copy of any WAV (how assets/speech_48k.wav was made).
        let clip = WavSource::open(&args[2]).unwrap();
        write_wav(&args[3], clip.samples()).unwrap();
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let input = args
        .get(1)
        .map_or_else(|| root.join("assets/speech_48k.wav"), PathBuf::from);
    let out_dir = args
        .get(2)
        .map_or_else(|| root.join("target/quality-bench"), PathBuf::from);
    std::fs::create_dir_all(&out_dir).unwrap();
    let clip = WavSource::open(&input).unwrap().samples().to_vec();
    let reference = out_dir.join("reference.wav");
    write_wav(&reference, &clip).unwrap();
    // WZP_QB_SEEDS=N scores every cell with seeds 1..=N and prints the mean: one
    // 10 s clip sees only a handful of 160 ms bursts, so one seed is noisy.
    let seeds: u64 = std::env::var("WZP_QB_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    // WZP_QB_FIRST_SEED moves the seed range (exploring beyond the table's seeds).
    let first_seed: u64 = std::env::var("WZP_QB_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    println!(
        "input {} ({:.1} s); loss: Gilbert-Elliott, mean burst 160 ms; jitter 0-80 ms; \
         mean over seeds {first_seed}..={}",
        input.display(),
        clip.len() as f32 / 48_000.0,
        first_seed + seeds - 1
    );
    // WZP_QB_CODECS (e.g. `32k,24k`) and WZP_QB_LOSSES (e.g. `10,30`) narrow the table.
    let codecs: Vec<CodecId> = std::env::var("WZP_QB_CODECS").map_or_else(
        |_| vec![CodecId::Opus32k, CodecId::Opus16k],
        |s| {
            s.split(',')
                .map(|c| match c.trim() {
                    "48k" => CodecId::Opus48k,
                    "32k" => CodecId::Opus32k,
                    "24k" => CodecId::Opus24k,
                    "16k" => CodecId::Opus16k,
                    other => panic!("WZP_QB_CODECS: unknown tier {other:?}"),
                })
                .collect()
        },
    );
    let losses: Vec<u32> = std::env::var("WZP_QB_LOSSES").map_or_else(
        |_| vec![0, 5, 10, 20, 30],
        |s| {
            s.split(',')
                .map(|l| {
                    l.trim()
                        .parse()
                        .expect("WZP_QB_LOSSES: a list of percentages")
                })
                .collect()
        },
    );
    let rows = rows_from_env().unwrap_or_else(variants);
    // WZP_QB_RESIDUAL=1: no PESQ; each cell is the mean share (%) of frames
    // still missing at playout (quick, so many seeds can be run).
    let residual_only = std::env::var_os("WZP_QB_RESIDUAL").is_some();
    for codec in codecs {
        let what = if residual_only {
            "frames missing at playout, %"
        } else {
            "PESQ-WB MOS-LQO"
        };
        println!("\n{codec:?}: {what}");
        print!("{:<30}", "variant \\ loss");
        for &l in &losses {
            print!("{:>8}", format!("{l}%"));
        }
        println!();
        for (vi, v) in rows.iter().enumerate() {
            print!("{:<30}", v.name);
            let mut at20 = None;
            for &l in &losses {
                let mut mos = Vec::new();
                for seed in first_seed..first_seed + seeds {
                    let (out, stats) = run(&clip, v, codec, l, seed);
                    if std::env::var_os("WZP_QB_DEBUG").is_some() {
                        eprintln!("{codec:?} v{vi} loss {l} seed {seed}: {stats:?}");
                    }
                    if l == 20 && seed == first_seed {
                        at20 = Some(stats);
                    }
                    if residual_only {
                        let frames = (stats.received + stats.lost).max(1);
                        mos.push(format!("{}", stats.lost as f64 * 100.0 / frames as f64));
                        continue;
                    }
                    let path = out_dir.join(format!("{codec:?}-v{vi}-loss{l}-seed{seed}.wav"));
                    write_wav(&path, &out).unwrap();
                    mos.push(score(&reference, &path));
                    if std::env::var_os("WZP_QB_DEBUG").is_some() {
                        eprintln!("  pesq {}", mos.last().map_or("", String::as_str));
                    }
                }
                let nums: Vec<f64> = mos.iter().filter_map(|m| m.parse().ok()).collect();
                let cell = if nums.len() == mos.len() {
                    format!("{:.3}", nums.iter().sum::<f64>() / nums.len() as f64)
                } else {
                    "n/a".to_owned()
                };
                print!("{cell:>8}");
                use std::io::Write;
                std::io::stdout().flush().unwrap();
            }
            if let Some(st) = at20 {
                // Where the lost frames went at 20% loss (seed 1).
                print!(
                    "   20%: lost {} recovered {} concealed {} underruns {}",
                    st.lost, st.recovered, st.concealed, st.underruns
                );
            }
            println!();
        }
    }
}
