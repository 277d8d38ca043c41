//! Opus encoder and decoder (libopus 1.6 built from source by `opusic-sys`,
//! with DRED and deep PLC compiled in).
//!
//! Why this binding: it is the one maintained safe binding that builds a
//! libopus >= 1.5 from source with the `dred` option, so the same code gets
//! Deep REDundancy (up to a second of low-rate history in each packet) and
//! neural packet loss concealment on every platform without a system libopus.
//!
//! Codec ids are wzp-proto's table: Opus 64/48/32/24/16/6 kbps. Changing the
//! codec of a running encoder only changes its bitrate (and frame length for
//! 6 kbps), so the quality controller can move between tiers on every frame.

use opusic_c::dred::Dred;
use opusic_c::{Application, Bitrate, Channels, Decoder, Encoder, InbandFec, SampleRate, Signal};
use wzp_proto::CodecId;

use crate::error::{AudioError, Result};
use crate::frame::FrameDuration;

/// Largest Opus packet this crate produces or accepts (bytes).
pub const MAX_PACKET: usize = 1275;

/// Packets this short are Opus DTX frames: the encoder found silence and the
/// sender may skip them (the receiver's decoder fills comfort noise).
pub const DTX_MAX_LEN: usize = 2;

/// Whether an Opus packet carries padding with extensions, which is how
/// libopus attaches DRED (this crate's encoder pads only for DRED: it runs
/// VBR). A cheap TOC check, no parsing: code-3 packet with the padding flag.
#[must_use]
pub fn has_dred_extension(packet: &[u8]) -> bool {
    packet.len() > 2 && packet[0] & 0x3 == 0x3 && packet[1] & 0x40 != 0
}

/// Opus tiers from best to worst.
pub const OPUS_TIERS: [CodecId; 6] = [
    CodecId::Opus64k,
    CodecId::Opus48k,
    CodecId::Opus32k,
    CodecId::Opus24k,
    CodecId::Opus16k,
    CodecId::Opus6k,
];

/// Whether the pipeline can encode this codec.
#[must_use]
pub fn is_opus(codec: CodecId) -> bool {
    OPUS_TIERS.contains(&codec)
}

/// DRED history for a tier, in 10 ms units, or 0 where libopus cannot carry
/// DRED at all.
///
/// libopus only emits DRED when the bitrate left after a fixed offset (12 kbps,
/// 20 kbps with in-band FEC) pays for at least two DRED chunks. Measured with
/// `examples/dred_probe.rs` on speech: 16k and 6k never carry it (any loss
/// hint), 24k and 32k carry it only without in-band FEC, 48k and 64k carry it
/// beside FEC. Running the DRED analysis where nothing is emitted only costs
/// CPU (about 40 us a frame here), so those tiers get 0.
#[must_use]
pub fn dred_frames_for(codec: CodecId) -> u8 {
    match codec {
        CodecId::Opus64k | CodecId::Opus48k | CodecId::Opus32k | CodecId::Opus24k => 10,
        _ => 0,
    }
}

/// Whether libopus can carry DRED beside in-band FEC at this tier (48k and
/// up); below that the two compete for the same bits and DRED is dropped.
#[must_use]
pub fn dred_fits_with_fec(codec: CodecId) -> bool {
    matches!(codec, CodecId::Opus64k | CodecId::Opus48k)
}

/// Default encoder complexity. Lower settings are cheaper but cost quality
/// that PESQ sees: on the speech asset, clean link, Opus 32k scored 4.04 at
/// complexity 8, 9 and 10, 3.86 at 7 and 3.65 at 5 (16k: 3.26 / 3.00 / 2.77).
/// 8 and 9 cost the same CPU here (about 280 us a 20 ms frame without FEC, on
/// the 2-core VM), so 9. What made Opus expensive was DRED analysis running
/// on every frame, not the complexity; see [`dred_frames_for`].
pub const DEFAULT_COMPLEXITY: u8 = 9;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderConfig {
    /// Tier (bitrate).
    pub codec: CodecId,
    /// Frame length.
    pub frame: FrameDuration,
    /// Opus in-band FEC (LBRR): a low-rate copy of the previous frame.
    pub inband_fec: bool,
    /// Discontinuous transmission on silence.
    pub dtx: bool,
    /// DRED history in 10 ms units (0 = off).
    pub dred_frames: u8,
    /// Expected loss in percent, told to the encoder (it sizes FEC and DRED to it).
    pub expected_loss_pct: u8,
    /// Encoder complexity 0..=10.
    pub complexity: u8,
}

impl EncoderConfig {
    /// Defaults for a tier on a clean link: in-band FEC and DTX on, DRED off,
    /// a 5% loss hint. libopus emits no LBRR at a hint of 0-3%; a higher hint
    /// takes bits from the primary encoding (PESQ on a clean link at 32k:
    /// 3.95 at 5%, 3.76 at 10%, 3.65 at 15%, 4.04 without FEC). DRED is for
    /// lossy links: see [`EncoderConfig::lossy`].
    #[must_use]
    pub fn for_codec(codec: CodecId) -> Self {
        Self {
            codec,
            frame: FrameDuration::MS20,
            inband_fec: true,
            dtx: true,
            dred_frames: 0,
            expected_loss_pct: 5,
            complexity: DEFAULT_COMPLEXITY,
        }
    }

    /// Settings for a link losing about `loss_pct`% of packets: DRED with
    /// `dred_frames` (10 ms units) of history where the tier can carry it,
    /// in-band FEC where DRED cannot or where both fit. Below 24k, libopus
    /// never emits DRED, so these tiers keep in-band FEC only.
    #[must_use]
    pub fn lossy(codec: CodecId, loss_pct: u8, dred_frames: u8) -> Self {
        let dred = if dred_frames_for(codec) > 0 {
            dred_frames
        } else {
            0
        };
        Self {
            inband_fec: dred == 0 || dred_fits_with_fec(codec),
            dred_frames: dred,
            expected_loss_pct: loss_pct.max(1),
            ..Self::for_codec(codec)
        }
    }

    /// Plain Opus: no FEC, no DRED, no DTX (the comparison baseline).
    #[must_use]
    pub fn plain(codec: CodecId) -> Self {
        Self {
            inband_fec: false,
            dtx: false,
            dred_frames: 0,
            expected_loss_pct: 0,
            ..Self::for_codec(codec)
        }
    }
}

/// Bitrate in bits per second of an Opus tier.
pub fn bitrate_of(codec: CodecId) -> Result<u32> {
    if !is_opus(codec) {
        return Err(AudioError::UnsupportedCodec(codec));
    }
    codec
        .info()
        .nominal_bps
        .ok_or(AudioError::UnsupportedCodec(codec))
}

/// A mono 48 kHz Opus encoder.
pub struct OpusEncoder {
    enc: Encoder,
    cfg: EncoderConfig,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl OpusEncoder {
    /// A VoIP-tuned encoder.
    pub fn new(cfg: EncoderConfig) -> Result<Self> {
        let enc = Encoder::new(Channels::Mono, SampleRate::Hz48000, Application::Voip)?;
        let mut me = Self { enc, cfg };
        me.enc.set_signal(Signal::Voice)?;
        me.enc.set_vbr(true)?;
        me.apply(cfg)?;
        Ok(me)
    }

    /// Applies new settings live (tier change, loss hint change).
    pub fn apply(&mut self, cfg: EncoderConfig) -> Result<()> {
        let bps = bitrate_of(cfg.codec)?;
        self.enc.set_bitrate(Bitrate::Value(bps))?;
        self.enc.set_inband_fec(if cfg.inband_fec {
            InbandFec::Mode1
        } else {
            InbandFec::Off
        })?;
        self.enc.set_dtx(cfg.dtx)?;
        self.enc.set_packet_loss(cfg.expected_loss_pct.min(100))?;
        self.enc.set_dred_duration(cfg.dred_frames.min(104))?;
        self.enc.set_complexity(cfg.complexity.min(10))?;
        self.cfg = cfg;
        Ok(())
    }

    /// Switches tier (bitrate) keeping the other settings.
    pub fn set_codec(&mut self, codec: CodecId) -> Result<()> {
        let cfg = EncoderConfig { codec, ..self.cfg };
        self.apply(cfg)
    }

    /// Settings in force.
    #[must_use]
    pub fn config(&self) -> EncoderConfig {
        self.cfg
    }

    /// Encodes one frame of `config().frame.samples()` samples into `out`
    /// (at least [`MAX_PACKET`] bytes is always enough); returns the length.
    /// A result of at most [`DTX_MAX_LEN`] bytes is a DTX frame.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize> {
        let expected = self.cfg.frame.samples();
        if pcm.len() != expected {
            return Err(AudioError::BufferSize {
                got: pcm.len(),
                expected,
            });
        }
        Ok(self.enc.encode_float_to_slice(pcm, out)?)
    }
}

/// How a frame was produced by [`OpusDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Opus in-band FEC (LBRR) carried by the next packet.
    InbandFec,
    /// DRED history carried by the next packet.
    Dred,
}

/// A mono 48 kHz Opus decoder with FEC, DRED and PLC.
pub struct OpusDecoder {
    dred: Dred,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder. Complexity 5 or more turns on deep (neural) PLC, which costs
    /// CPU only when a packet is lost.
    pub fn new() -> Result<Self> {
        let mut dec = Decoder::new(Channels::Mono, SampleRate::Hz48000)?;
        dec.set_complexity(5)?;
        Ok(Self {
            dred: Dred::new(dec)?,
        })
    }

    /// Decodes a packet into `out` (sized for the packet's duration); returns samples.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize> {
        Ok(self
            .dred
            .decoder_mut()
            .decode_float_to_slice(packet, out, false)?)
    }

    /// Rebuilds the audio lost just before `next` from `next`'s redundancy,
    /// into `out`; returns the samples written.
    ///
    /// `out` is the lost span that ends where `next` begins. In-band FEC only
    /// holds the one frame before `next`, so `out` must be one frame long.
    /// DRED holds up to its history (10 ms units set at the sender) and
    /// rebuilds a whole burst in one call: `opusic-c`'s wrapper decodes
    /// `out.len()` samples starting `out.len()` samples before `next`, which
    /// is exactly the gap (the offset is not separately settable, so a gap is
    /// always recovered up to the next packet, never a slice in its middle).
    ///
    /// `Recovery::Dred` falls back to in-band FEC for a packet without a DRED
    /// extension (tiers and links where the sender does not send DRED), and
    /// for a gap longer than one frame it then returns [`AudioError::BufferSize`]
    /// so the caller conceals instead. A DRED result that is not plausible
    /// audio (a gap longer than the history carried) is
    /// [`AudioError::Unrecoverable`].
    pub fn recover(&mut self, next: &[u8], how: Recovery, out: &mut [f32]) -> Result<usize> {
        if how == Recovery::Dred && has_dred_extension(next) {
            let n = self.dred.decode_float_to_slice(next, out)?;
            // Asked for more than the packet carries, libopus can return
            // garbage (huge values) rather than an error: refuse it.
            if out[..n].iter().any(|x| !x.is_finite() || x.abs() > 4.0) {
                out[..n].fill(0.0);
                return Err(AudioError::Unrecoverable);
            }
            return Ok(n);
        }
        let frame = self.packet_samples(next)?;
        if out.len() != frame {
            return Err(AudioError::BufferSize {
                got: out.len(),
                expected: frame,
            });
        }
        Ok(self
            .dred
            .decoder_mut()
            .decode_float_to_slice(next, out, true)?)
    }

    /// How many samples before `next` can be rebuilt from it with `how`:
    /// one frame for in-band FEC, the whole carried history for DRED (a
    /// conservative count: the history the sender was configured with is not
    /// in the packet, so the caller passes what it expects, `dred_ms`).
    #[must_use]
    pub fn recoverable_samples(&self, next: &[u8], how: Recovery, dred_ms: u32) -> usize {
        let frame = self.packet_samples(next).unwrap_or(0);
        if how == Recovery::Dred && has_dred_extension(next) {
            (dred_ms as usize * crate::frame::SAMPLES_PER_MS).max(frame)
        } else {
            frame
        }
    }

    /// Packet loss concealment for a frame of `out.len()` samples (also what
    /// fills DTX gaps with comfort noise).
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<usize> {
        Ok(self
            .dred
            .decoder_mut()
            .decode_float_to_slice(&[], out, false)?)
    }

    /// Samples in a packet at 48 kHz (its duration), without decoding it.
    pub fn packet_samples(&self, packet: &[u8]) -> Result<usize> {
        Ok(opusic_c::utils::get_nb_samples(
            packet,
            SampleRate::Hz48000,
        )?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::analysis::dominant_frequency;
    use crate::io::{AudioSource, ToneSource};

    #[test]
    fn every_tier_round_trips_a_tone() {
        for codec in OPUS_TIERS {
            let mut enc = OpusEncoder::new(EncoderConfig::for_codec(codec)).unwrap();
            let mut dec = OpusDecoder::new().unwrap();
            let mut tone = ToneSource::new(440.0, 0.5);
            let mut pcm = vec![0.0; 960];
            let mut pkt = vec![0u8; MAX_PACKET];
            let mut out = vec![0.0; 960];
            let mut all = Vec::new();
            let mut bytes = 0;
            for _ in 0..50 {
                tone.pull(&mut pcm).unwrap();
                let n = enc.encode(&pcm, &mut pkt).unwrap();
                bytes += n;
                assert_eq!(dec.decode(&pkt[..n], &mut out).unwrap(), 960);
                all.extend_from_slice(&out);
            }
            let f = dominant_frequency(&all[9600..], 48_000);
            assert!((f - 440.0).abs() < 5.0, "{codec:?}: {f}");
            let kbps = bytes as f32 * 8.0 / 1000.0;
            let nominal = bitrate_of(codec).unwrap() as f32 / 1000.0;
            assert!(kbps < nominal * 1.6 + 4.0, "{codec:?}: {kbps} kbps in 1 s");
        }
    }

    #[test]
    fn silence_gives_dtx_frames() {
        let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus24k)).unwrap();
        let pcm = vec![0.0; 960];
        let mut pkt = vec![0u8; MAX_PACKET];
        let mut small = 0;
        for _ in 0..50 {
            if enc.encode(&pcm, &mut pkt).unwrap() <= DTX_MAX_LEN {
                small += 1;
            }
        }
        assert!(small > 30, "{small} DTX frames of 50");
    }

    #[test]
    fn wrong_frame_size_is_an_error() {
        let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus32k)).unwrap();
        assert!(enc.encode(&[0.0; 100], &mut [0u8; MAX_PACKET]).is_err());
        assert!(bitrate_of(CodecId::H264Main).is_err());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod recovery_tests {
    use super::*;
    use crate::analysis::band_distance_db;
    use crate::io::speech_asset as speech;

    fn waveform_err(a: &[f32], b: &[f32]) -> f32 {
        let e: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        let s: f32 = a.iter().map(|x| x * x).sum();
        e / s.max(1e-9)
    }

    /// Loses `burst` frames at several positions in speech and rebuilds them
    /// with PLC and with `how` from the packet after the burst. Returns, summed
    /// over positions, (PLC, recovery) errors against the loss-free decode:
    /// waveform error and band distance (dB), and whether outputs differed.
    fn compare(cfg: EncoderConfig, how: Recovery, burst: usize) -> ([f32; 2], [f32; 2], bool) {
        let pcm = speech();
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut pkt = vec![0u8; MAX_PACKET];
        let packets: Vec<Vec<u8>> = pcm
            .chunks_exact(960)
            .take(200)
            .map(|f| {
                let n = enc.encode(f, &mut pkt).unwrap();
                pkt[..n].to_vec()
            })
            .collect();
        let (mut plc_e, mut rec_e, mut differ) = ([0.0; 2], [0.0; 2], false);
        for lost in [40, 60, 80, 100, 120, 140] {
            let mut out = vec![0.0; 960];
            let (mut clean, mut plc, mut rec) = (
                OpusDecoder::new().unwrap(),
                OpusDecoder::new().unwrap(),
                OpusDecoder::new().unwrap(),
            );
            for p in &packets[..lost] {
                clean.decode(p, &mut out).unwrap();
                plc.decode(p, &mut out).unwrap();
                rec.decode(p, &mut out).unwrap();
            }
            let n = 960 * burst;
            let mut want = vec![0.0; n];
            for (i, chunk) in want.chunks_exact_mut(960).enumerate() {
                clean.decode(&packets[lost + i], chunk).unwrap();
            }
            let mut concealed = vec![0.0; n];
            for chunk in concealed.chunks_exact_mut(960) {
                plc.conceal(chunk).unwrap();
            }
            let mut recovered = vec![0.0; n];
            assert_eq!(
                rec.recover(&packets[lost + burst], how, &mut recovered)
                    .unwrap(),
                n
            );
            plc_e[0] += waveform_err(&want, &concealed);
            rec_e[0] += waveform_err(&want, &recovered);
            plc_e[1] += band_distance_db(&want, &concealed, 48_000);
            rec_e[1] += band_distance_db(&want, &recovered, 48_000);
            differ |= concealed != recovered;
        }
        (plc_e, rec_e, differ)
    }

    #[test]
    fn inband_fec_rebuilds_a_lost_frame_better_than_plc() {
        let cfg = EncoderConfig {
            dtx: false,
            expected_loss_pct: 20,
            ..EncoderConfig::for_codec(CodecId::Opus32k)
        };
        let (plc, fec, differ) = compare(cfg, Recovery::InbandFec, 1);
        assert!(differ, "FEC output identical to PLC");
        assert!(
            fec[0] < plc[0] * 0.7,
            "FEC waveform error {fec:?} vs PLC {plc:?}"
        );
        assert!(fec[1] < plc[1], "FEC band distance {fec:?} vs PLC {plc:?}");
    }

    /// DRED is a vocoder: its frames are judged by spectral envelope (band
    /// distance), not by waveform.
    #[test]
    fn dred_rebuilds_a_lost_frame_better_than_plc() {
        let cfg = EncoderConfig {
            dtx: false,
            ..EncoderConfig::lossy(CodecId::Opus32k, 20, 20)
        };
        assert!(!cfg.inband_fec && cfg.dred_frames == 20);
        let (plc, dred, differ) = compare(cfg, Recovery::Dred, 4);
        assert!(differ, "DRED output identical to PLC");
        assert!(
            dred[1] < plc[1],
            "DRED band distance {dred:?} vs PLC {plc:?}"
        );
    }

    #[test]
    fn dred_rebuilds_a_burst_of_four_frames_better_than_plc() {
        let cfg = EncoderConfig {
            dtx: false,
            ..EncoderConfig::lossy(CodecId::Opus32k, 20, 20)
        };
        let (plc, dred, differ) = compare(cfg, Recovery::Dred, 4);
        assert!(differ, "DRED output identical to PLC");
        assert!(
            dred[1] < plc[1] * 0.8,
            "DRED band distance {dred:?} vs PLC {plc:?}"
        );
    }

    #[test]
    fn dred_beyond_its_history_is_refused_not_played() {
        let cfg = EncoderConfig {
            dtx: false,
            ..EncoderConfig::lossy(CodecId::Opus32k, 20, 20)
        };
        let pcm = speech();
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let (mut pkt, mut out) = (vec![0u8; MAX_PACKET], vec![0.0; 960]);
        for f in pcm.chunks_exact(960).take(100) {
            let n = enc.encode(f, &mut pkt).unwrap();
            dec.decode(&pkt[..n], &mut out).unwrap();
        }
        let n = enc.encode(&pcm[100 * 960..101 * 960], &mut pkt).unwrap();
        let mut gap = vec![0.0; 960 * 6];
        if dec.recover(&pkt[..n], Recovery::Dred, &mut gap).is_ok() {
            assert!(gap.iter().all(|x| x.abs() <= 4.0));
        }
    }

    #[test]
    fn fec_cannot_rebuild_more_than_one_frame() {
        let mut enc = OpusEncoder::new(EncoderConfig::for_codec(CodecId::Opus32k)).unwrap();
        let mut pkt = vec![0u8; MAX_PACKET];
        let n = enc.encode(&speech()[..960], &mut pkt).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = vec![0.0; 1920];
        assert!(dec.recover(&pkt[..n], Recovery::Dred, &mut out).is_err());
        assert_eq!(dec.recoverable_samples(&pkt[..n], Recovery::Dred, 200), 960);
    }
}
