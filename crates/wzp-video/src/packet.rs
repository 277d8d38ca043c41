//! H.264 access units into WZP datagrams and back (RFC 6184 packetization mode 1
//! subset: single NAL unit packets and FU-A fragments). Sans-IO.
//!
//! Wire rules (on top of the 16-byte [`MediaHeader`]):
//! - every packet of one access unit carries the same `timestamp`;
//! - `seq` counts packets of the stream, wrapping at 2^32;
//! - `fec_block` is the packet's index within its access unit (0, 1, ...), so a
//!   receiver that holds the last packet knows where the unit started;
//! - `keyframe` is set on every packet of an IDR access unit, `frame_end` on the last;
//! - an IDR access unit always carries SPS and PPS before its slices, so a receiver
//!   that joins late, or reset its decoder, can start from any keyframe.
//!
//! The [`Depacketizer`] only ever outputs an access unit whose packets are all
//! present and consistent, and only in an unbroken chain since a keyframe: a
//! missing piece means waiting (for a retransmission) and then, if it does not
//! come, dropping frames until the next keyframe. It never hands the decoder a
//! frame with a hole, which is what produces smeared, corrupt pictures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::{debug, trace};
use wzp_proto::{
    CodecId, Flags, MEDIA_HEADER_LEN, MediaHeader, MediaType, Seq, StreamId, TimestampMs,
};

use crate::error::{Result, VideoError};

/// Largest media payload of a WZP datagram: 1200 bytes minus the 16-byte header
/// and the 16-byte AEAD tag.
pub const DEFAULT_MAX_PAYLOAD: usize = 1168;

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_IDR: u8 = 5;
const NAL_FU_A: u8 = 28;
const FU_START: u8 = 0x80;
const FU_END: u8 = 0x40;
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Splits an Annex-B byte stream into NAL units (without start codes). Leading
/// bytes before the first start code and empty units are skipped.
#[must_use]
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        let mut nal = &data[s..end];
        // The zero before a 4-byte start code belongs to the start code.
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

/// One video datagram before encryption: header and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPacket {
    /// The media header (also the AEAD associated data).
    pub header: MediaHeader,
    /// RTP-style H.264 payload: a NAL unit or an FU-A fragment.
    pub payload: Vec<u8>,
}

impl VideoPacket {
    /// Header bytes followed by the payload.
    #[must_use]
    pub fn to_datagram(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(MEDIA_HEADER_LEN + self.payload.len());
        v.extend_from_slice(&self.header.encode());
        v.extend_from_slice(&self.payload);
        v
    }

    /// Parses a plaintext datagram; refuses anything but H.264 video with a payload.
    pub fn from_datagram(buf: &[u8]) -> Result<Self> {
        let header = MediaHeader::decode(buf)?;
        check_header(&header)?;
        let payload = buf[MEDIA_HEADER_LEN..].to_vec();
        if payload.is_empty() {
            return Err(VideoError::BadPacket("empty payload".into()));
        }
        Ok(Self { header, payload })
    }
}

fn check_header(h: &MediaHeader) -> Result<()> {
    if h.media_type != MediaType::Video
        || !matches!(h.codec, CodecId::H264Baseline | CodecId::H264Main)
    {
        return Err(VideoError::BadPacket(format!(
            "not H.264 video ({} / {:?})",
            h.media_type, h.codec
        )));
    }
    if h.flags.repair {
        return Err(VideoError::BadPacket("FEC repair packet".into()));
    }
    Ok(())
}

/// Cuts encoded access units into packets.
#[derive(Debug, Clone)]
pub struct Packetizer {
    max_payload: usize,
    stream: StreamId,
    codec: CodecId,
    next_seq: Seq,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
}

impl Packetizer {
    /// A packetizer for `stream` whose payloads never exceed `max_payload` bytes
    /// (at least 64, so an FU-A fragment carries something useful). The first
    /// sequence number is `first_seq` (random in production, to make known-plaintext
    /// guesses harder; fixed in tests).
    pub fn new(stream: StreamId, max_payload: usize, first_seq: Seq) -> Result<Self> {
        if !(64..=65_000).contains(&max_payload) {
            return Err(VideoError::BadSetting {
                name: "max_payload",
                reason: format!("{max_payload} is outside 64..=65000"),
            });
        }
        Ok(Self {
            max_payload,
            stream,
            codec: CodecId::H264Baseline,
            next_seq: first_seq,
            sps: None,
            pps: None,
        })
    }

    /// Changes the payload limit for the next access units (the path's datagram size
    /// changed: path MTU discovery raised it, or a new path is smaller). Same bounds
    /// as [`Packetizer::new`].
    pub fn set_max_payload(&mut self, max_payload: usize) -> Result<()> {
        if !(64..=65_000).contains(&max_payload) {
            return Err(VideoError::BadSetting {
                name: "max_payload",
                reason: format!("{max_payload} is outside 64..=65000"),
            });
        }
        self.max_payload = max_payload;
        Ok(())
    }

    /// Sequence number the next packet will get.
    #[must_use]
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// Packetizes one Annex-B access unit, appending packets to `out`.
    /// `keyframe` marks an IDR unit (it is also detected from the NAL types).
    pub fn packetize(
        &mut self,
        access_unit: &[u8],
        keyframe: bool,
        timestamp: TimestampMs,
        out: &mut Vec<VideoPacket>,
    ) -> Result<()> {
        let nals = split_annex_b(access_unit);
        if nals.is_empty() {
            return Err(VideoError::BadPacket("access unit has no NAL units".into()));
        }
        let nal_type = |n: &[u8]| n[0] & 0x1f;
        for n in &nals {
            match nal_type(n) {
                NAL_SPS => self.sps = Some(n.to_vec()),
                NAL_PPS => self.pps = Some(n.to_vec()),
                _ => {}
            }
        }
        let keyframe = keyframe || nals.iter().any(|n| nal_type(n) == NAL_IDR);
        let mut units: Vec<&[u8]> = Vec::with_capacity(nals.len() + 2);
        if keyframe {
            // Parameter sets with every keyframe, even if the encoder left them out.
            let has = |t| nals.iter().any(|n| nal_type(n) == t);
            if !has(NAL_SPS) {
                if let Some(s) = &self.sps {
                    units.push(s);
                }
            }
            if !has(NAL_PPS) {
                if let Some(p) = &self.pps {
                    units.push(p);
                }
            }
        }
        units.extend(nals.iter().copied());

        let start = out.len();
        for nal in units {
            if nal.len() <= self.max_payload {
                out.push(self.packet(nal.to_vec(), timestamp, keyframe));
                continue;
            }
            let indicator = (nal[0] & 0xe0) | NAL_FU_A;
            let chunks: Vec<&[u8]> = nal[1..].chunks(self.max_payload - 2).collect();
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.into_iter().enumerate() {
                let mut fu = (nal[0] & 0x1f) | if i == 0 { FU_START } else { 0 };
                if i == last {
                    fu |= FU_END;
                }
                let mut p = Vec::with_capacity(chunk.len() + 2);
                p.extend_from_slice(&[indicator, fu]);
                p.extend_from_slice(chunk);
                out.push(self.packet(p, timestamp, keyframe));
            }
        }
        let count = out.len() - start;
        if count > usize::from(u16::MAX) {
            out.truncate(start);
            return Err(VideoError::BadPacket(format!(
                "access unit needs {count} packets"
            )));
        }
        for (i, p) in out[start..].iter_mut().enumerate() {
            p.header.fec_block = i as u16;
            p.header.seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
        }
        if let Some(last) = out.last_mut() {
            last.header.flags.frame_end = true;
        }
        Ok(())
    }

    fn packet(&self, payload: Vec<u8>, timestamp: TimestampMs, keyframe: bool) -> VideoPacket {
        let mut header = MediaHeader::new(self.codec, self.stream, Seq(0), timestamp);
        header.flags = Flags {
            keyframe,
            ..Flags::default()
        };
        VideoPacket { header, payload }
    }
}

/// A complete access unit rebuilt by the [`Depacketizer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Annex-B bytes, ready for the decoder.
    pub data: Vec<u8>,
    /// An IDR unit: the decoder can start (or restart) here.
    pub keyframe: bool,
    /// Media time of the frame.
    pub timestamp: TimestampMs,
    /// Sequence number of its first packet.
    pub first_seq: Seq,
    /// Sequence number of its last packet.
    pub last_seq: Seq,
}

/// What the depacketizer tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepacketizerEvent {
    /// A complete access unit, in decode order, from an unbroken chain.
    Frame(AccessUnit),
    /// Packets `first .. first + count` were skipped over (may still arrive late
    /// or be retransmitted).
    Gap {
        /// First missing sequence number.
        first: Seq,
        /// How many.
        count: u32,
    },
    /// The chain is broken: a frame could not be completed in time (or was
    /// malformed), everything up to the next keyframe is dropped. The owner should
    /// request a keyframe and keep showing the last good picture.
    ChainBroken {
        /// First sequence number that could not be used.
        at: Seq,
    },
}

/// Counters for stats and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepacketizerStats {
    /// Access units emitted.
    pub frames: u64,
    /// Keyframes among them.
    pub keyframes: u64,
    /// Packets dropped as duplicates, too late, or useless while waiting for a keyframe.
    pub dropped_packets: u64,
    /// Times the chain broke.
    pub chain_breaks: u64,
    /// Malformed packets refused.
    pub malformed: u64,
}

#[derive(Debug, Clone)]
struct Stored {
    header: MediaHeader,
    payload: Vec<u8>,
    arrived: Instant,
}

/// Rebuilds access units from packets, never emitting one with a missing piece.
///
/// Feed it packets with [`push`](Self::push) and call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Depacketizer {
    max_wait: Duration,
    max_packets: usize,
    stream: Option<StreamId>,
    packets: BTreeMap<u64, Stored>,
    /// Highest extended sequence number seen.
    highest: Option<u64>,
    /// Extended seq where the next access unit must start (chain intact).
    next_start: Option<u64>,
    /// Since when the head of the chain has been waiting for a missing piece.
    blocked_since: Option<Instant>,
    stats: DepacketizerStats,
}

impl Depacketizer {
    /// `max_wait`: how long an incomplete frame may hold up the chain before it is
    /// given up (the NACK round trip must fit in it). `max_packets` bounds memory.
    #[must_use]
    pub fn new(max_wait: Duration, max_packets: usize) -> Self {
        Self {
            max_wait,
            max_packets: max_packets.max(16),
            stream: None,
            packets: BTreeMap::new(),
            highest: None,
            next_start: None,
            blocked_since: None,
            stats: DepacketizerStats::default(),
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// Whether the chain is intact (a keyframe has been seen and nothing lost since).
    #[must_use]
    pub fn chain_intact(&self) -> bool {
        self.next_start.is_some()
    }

    /// Maps a wire seq onto a 64-bit line, wrap-aware around the highest seen.
    fn extend(&self, seq: Seq) -> u64 {
        match self.highest {
            None => (1u64 << 32) + u64::from(seq.0),
            Some(h) => (h as i64 + seq.diff(Seq(h as u32))).max(0) as u64,
        }
    }

    /// Takes one parsed datagram. Malformed packets are an error and change nothing.
    pub fn push(
        &mut self,
        packet: VideoPacket,
        now: Instant,
        out: &mut Vec<DepacketizerEvent>,
    ) -> Result<()> {
        if let Err(e) = check_header(&packet.header).and_then(|()| {
            if packet.payload.is_empty() {
                Err(VideoError::BadPacket("empty payload".into()))
            } else {
                Ok(())
            }
        }) {
            self.stats.malformed += 1;
            return Err(e);
        }
        match self.stream {
            None => self.stream = Some(packet.header.stream),
            Some(s) if s != packet.header.stream => {
                self.stats.malformed += 1;
                return Err(VideoError::BadPacket(format!(
                    "stream {} on a depacketizer for stream {s}",
                    packet.header.stream
                )));
            }
            Some(_) => {}
        }
        let ext = self.extend(packet.header.seq);
        if let Some(h) = self.highest {
            if ext > h + self.max_packets as u64 * 4 || ext + (self.max_packets as u64 * 4) < h {
                // A jump this big is a restarted sender, not loss: start over.
                debug!(seq = %packet.header.seq, "sequence jump, resetting depacketizer");
                self.packets.clear();
                self.highest = None;
                self.blocked_since = None;
                if self.next_start.take().is_some() {
                    self.stats.chain_breaks += 1;
                    out.push(DepacketizerEvent::ChainBroken {
                        at: packet.header.seq,
                    });
                }
                return self.push(packet, now, out);
            }
        }
        if let Some(ns) = self.next_start {
            if ext < ns {
                self.stats.dropped_packets += 1; // late or duplicate of an emitted frame
                return Ok(());
            }
        }
        if self.packets.contains_key(&ext) {
            self.stats.dropped_packets += 1;
            return Ok(());
        }
        match self.highest {
            Some(h) if ext > h + 1 => out.push(DepacketizerEvent::Gap {
                first: Seq((h + 1) as u32),
                count: (ext - h - 1) as u32,
            }),
            _ => {}
        }
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        self.packets.insert(
            ext,
            Stored {
                header: packet.header,
                payload: packet.payload,
                arrived: now,
            },
        );
        while self.packets.len() > self.max_packets {
            if let Some((&k, _)) = self.packets.iter().next() {
                self.packets.remove(&k);
                self.stats.dropped_packets += 1;
                if self.next_start.is_some_and(|ns| k >= ns) {
                    self.break_chain(k, out);
                }
            }
        }
        self.drain(now, out);
        Ok(())
    }

    /// Parses and takes a plaintext datagram.
    pub fn push_datagram(
        &mut self,
        datagram: &[u8],
        now: Instant,
        out: &mut Vec<DepacketizerEvent>,
    ) -> Result<()> {
        match VideoPacket::from_datagram(datagram) {
            Ok(p) => self.push(p, now, out),
            Err(e) => {
                self.stats.malformed += 1;
                Err(e)
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next needs to run, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.blocked_since.map(|t| t + self.max_wait)
    }

    /// Gives up on a frame that has waited too long (breaking the chain).
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<DepacketizerEvent>) {
        if let (Some(since), Some(ns)) = (self.blocked_since, self.next_start) {
            if now >= since + self.max_wait {
                self.break_chain(ns, out);
                self.drain(now, out);
            }
        }
        self.prune(now);
    }

    /// Drops everything up to the next keyframe (the owner decided, e.g. because
    /// the NACK layer gave up on a packet).
    pub fn skip_to_keyframe(&mut self, now: Instant, out: &mut Vec<DepacketizerEvent>) {
        if let Some(ns) = self.next_start {
            self.break_chain(ns, out);
            self.drain(now, out);
        }
    }

    fn break_chain(&mut self, at: u64, out: &mut Vec<DepacketizerEvent>) {
        debug!(at, "video chain broken; waiting for a keyframe");
        self.next_start = None;
        self.blocked_since = None;
        self.stats.chain_breaks += 1;
        out.push(DepacketizerEvent::ChainBroken { at: Seq(at as u32) });
    }

    /// Without a chain, only keyframe packets and what follows them are useful.
    fn prune(&mut self, now: Instant) {
        if self.next_start.is_some() {
            return;
        }
        let first_key = self
            .packets
            .iter()
            .find(|(_, p)| p.header.flags.keyframe)
            .map(|(&k, _)| k);
        let before = self.packets.len();
        match first_key {
            Some(k) => self.packets.retain(|&e, _| e >= k),
            None => {
                let horizon = self.max_wait * 4;
                self.packets
                    .retain(|_, p| now.saturating_duration_since(p.arrived) < horizon);
            }
        }
        self.stats.dropped_packets += (before - self.packets.len()) as u64;
    }

    /// Tries to assemble the access unit starting at `start`. `None` if a piece is
    /// missing; `Some(Err)` if the pieces are inconsistent or malformed.
    fn assemble(&self, start: u64) -> Option<std::result::Result<(AccessUnit, u64), ()>> {
        let first = self.packets.get(&start)?;
        if first.header.fec_block != 0 {
            return Some(Err(()));
        }
        let ts = first.header.timestamp;
        let key = first.header.flags.keyframe;
        let mut ext = start;
        let mut data = Vec::new();
        let mut fu_open = false;
        loop {
            let p = self.packets.get(&ext)?;
            let idx = ext - start;
            if p.header.timestamp != ts
                || u64::from(p.header.fec_block) != idx
                || p.header.flags.keyframe != key
            {
                return Some(Err(()));
            }
            let pl = &p.payload;
            let t = pl[0] & 0x1f;
            match t {
                1..=23 => {
                    if fu_open {
                        return Some(Err(()));
                    }
                    data.extend_from_slice(&START_CODE);
                    data.extend_from_slice(pl);
                }
                NAL_FU_A => {
                    if pl.len() < 3 {
                        return Some(Err(()));
                    }
                    let fu = pl[1];
                    if fu & FU_START != 0 {
                        if fu_open {
                            return Some(Err(()));
                        }
                        data.extend_from_slice(&START_CODE);
                        data.push((pl[0] & 0xe0) | (fu & 0x1f));
                        fu_open = true;
                    } else if !fu_open {
                        return Some(Err(()));
                    }
                    data.extend_from_slice(&pl[2..]);
                    if fu & FU_END != 0 {
                        fu_open = false;
                    }
                }
                _ => return Some(Err(())),
            }
            if p.header.flags.frame_end {
                if fu_open {
                    return Some(Err(()));
                }
                let au = AccessUnit {
                    data,
                    keyframe: key,
                    timestamp: ts,
                    first_seq: Seq(start as u32),
                    last_seq: Seq(ext as u32),
                };
                return Some(Ok((au, ext)));
            }
            if idx >= u64::from(u16::MAX) {
                return Some(Err(()));
            }
            ext += 1;
        }
    }

    fn emit(&mut self, au: AccessUnit, end: u64, out: &mut Vec<DepacketizerEvent>) {
        self.packets.retain(|&e, _| e > end);
        self.next_start = Some(end + 1);
        self.blocked_since = None;
        self.stats.frames += 1;
        if au.keyframe {
            self.stats.keyframes += 1;
        }
        trace!(first = %au.first_seq, last = %au.last_seq, key = au.keyframe, "access unit");
        out.push(DepacketizerEvent::Frame(au));
    }

    /// The earliest complete keyframe unit in store, if any.
    fn first_complete_keyframe(&self) -> Option<(AccessUnit, u64)> {
        let starts: Vec<u64> = self
            .packets
            .iter()
            .filter(|(_, p)| p.header.flags.keyframe && p.header.fec_block == 0)
            .map(|(&k, _)| k)
            .collect();
        starts
            .into_iter()
            .find_map(|s| self.assemble(s).and_then(std::result::Result::ok))
    }

    fn drain(&mut self, now: Instant, out: &mut Vec<DepacketizerEvent>) {
        loop {
            match self.next_start {
                Some(ns) => match self.assemble(ns) {
                    Some(Ok((au, end))) => self.emit(au, end, out),
                    Some(Err(())) => {
                        self.stats.malformed += 1;
                        self.break_chain(ns, out);
                    }
                    None => {
                        // A later complete keyframe makes the wait pointless.
                        if let Some((au, end)) = self.first_complete_keyframe() {
                            out.push(DepacketizerEvent::ChainBroken { at: Seq(ns as u32) });
                            self.stats.chain_breaks += 1;
                            self.packets.retain(|&e, _| e >= au_start(&au, end));
                            self.emit(au, end, out);
                            continue;
                        }
                        if !self.packets.is_empty() && self.blocked_since.is_none() {
                            self.blocked_since = Some(now);
                        }
                        return;
                    }
                },
                None => {
                    self.prune(now);
                    match self.first_complete_keyframe() {
                        Some((au, end)) => self.emit(au, end, out),
                        None => return,
                    }
                }
            }
        }
    }
}

/// Extended seq of the first packet of `au`, given the extended seq of its last.
fn au_start(au: &AccessUnit, end: u64) -> u64 {
    end - u64::from(au.last_seq.0.wrapping_sub(au.first_seq.0))
}
