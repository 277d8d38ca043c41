//! The three ways a media datagram can start, told apart by its first byte.
//!
//! | first byte | encoding | layout                                            |
//! |------------|----------|---------------------------------------------------|
//! | 0x02       | plain    | `MediaHeader(16) || body`                         |
//! | 0x00       | full     | `0x00 || MediaHeader(16) || body`                 |
//! | 0x01       | mini     | `0x01 || MiniHeader(5) || payload(payload_len)`   |
//!
//! The first byte of a plain datagram is the header's version (0x02), so the
//! three never collide. `body` is the payload, followed by the 4-byte
//! QualityReport when the header's Q flag is set; on an end-to-end encrypted
//! packet both sit inside the ciphertext (see wzp-crypto).

use serde::Serialize;

use crate::error::{ProtoError, Result, need};
use crate::header::{MEDIA_HEADER_LEN, MEDIA_VERSION, MediaHeader};
use crate::quality::{QUALITY_REPORT_LEN, QualityReport};
use crate::types::ParticipantId;

/// Tag byte of a compact frame carrying a full header.
pub const TAG_FULL: u8 = 0x00;
/// Tag byte of a compact frame carrying a mini header.
pub const TAG_MINI: u8 = 0x01;
/// Encoded size of [`MiniHeader`] (without its tag).
pub const MINI_HEADER_LEN: usize = 5;

/// The 5-byte header of a mini frame: the parts of a full header that change
/// from one audio packet to the next.
///
/// The sequence and timestamp are carried as their low 8 and 16 bits and
/// recovered against the receiver's last known values (see
/// [`Expander`](crate::Expander)), which survives any loss burst shorter than
/// 128 packets. The reference WZP sends the difference to the previous packet
/// instead, which loses track after the first lost packet; the byte layout is
/// the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct MiniHeader {
    /// Low 8 bits of the sequence number.
    pub seq_lsb: u8,
    /// Low 16 bits of the timestamp in ms.
    pub ts_lsb: u16,
    /// Bytes of payload that follow.
    pub payload_len: u16,
}

impl MiniHeader {
    /// The 5 wire bytes (without the tag).
    #[must_use]
    pub fn encode(&self) -> [u8; MINI_HEADER_LEN] {
        let [t0, t1] = self.ts_lsb.to_be_bytes();
        let [l0, l1] = self.payload_len.to_be_bytes();
        [self.seq_lsb, t0, t1, l0, l1]
    }

    /// Parses the first 5 bytes of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        need(buf, MINI_HEADER_LEN, "mini header")?;
        Ok(Self {
            seq_lsb: buf[0],
            ts_lsb: u16::from_be_bytes([buf[1], buf[2]]),
            payload_len: u16::from_be_bytes([buf[3], buf[4]]),
        })
    }
}

/// One media datagram, split into header and body without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// A plain datagram: full header, no tag.
    Plain {
        /// The header.
        header: MediaHeader,
        /// Everything after the header.
        body: &'a [u8],
    },
    /// A compact frame with a full header.
    Full {
        /// The header.
        header: MediaHeader,
        /// Everything after the header.
        body: &'a [u8],
    },
    /// A compact frame with a mini header; expand it with an [`Expander`](crate::Expander).
    Mini {
        /// The mini header.
        mini: MiniHeader,
        /// The payload, exactly `mini.payload_len` bytes.
        payload: &'a [u8],
    },
}

impl<'a> Datagram<'a> {
    /// Parses `buf` as a plain datagram (header first, no tag). Use this when
    /// the encoding is known to be plain: its first byte is then a version, and
    /// 0x01 means a v1 header rather than a mini frame.
    pub fn parse_plain(buf: &'a [u8]) -> Result<Self> {
        let header = MediaHeader::decode(buf)?;
        Ok(Self::Plain {
            header,
            body: &buf[MEDIA_HEADER_LEN..],
        })
    }

    /// Splits a datagram of any of the three encodings by its first byte.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        need(buf, 1, "datagram")?;
        match buf[0] {
            MEDIA_VERSION => Self::parse_plain(buf),
            TAG_FULL => {
                let header = MediaHeader::decode(&buf[1..])?;
                Ok(Self::Full {
                    header,
                    body: &buf[1 + MEDIA_HEADER_LEN..],
                })
            }
            TAG_MINI => {
                let mini = MiniHeader::decode(&buf[1..])?;
                let payload = &buf[1 + MINI_HEADER_LEN..];
                if payload.len() != usize::from(mini.payload_len) {
                    return Err(ProtoError::LengthMismatch {
                        what: "mini frame payload",
                        declared: usize::from(mini.payload_len),
                        actual: payload.len(),
                    });
                }
                Ok(Self::Mini { mini, payload })
            }
            // A version byte other than 2 in a plain datagram, or an unknown tag:
            // both are "not a frame we know", and a v1 header is the likely case.
            0x03..=0x7f => Err(ProtoError::WrongVersion { found: buf[0] }),
            other => Err(ProtoError::UnknownFrameTag(other)),
        }
    }
}

/// Bytes the relay puts in front of a datagram it forwards: the sender's
/// participant id, so a receiver knows whose keys and whose compression
/// context apply. The relay cannot change the media header itself, which is
/// authenticated end to end.
pub const FORWARD_PREFIX_LEN: usize = 2;

/// Writes the relay-to-client form of a forwarded datagram:
/// `sender(u16) || datagram`.
pub fn write_forwarded(sender: ParticipantId, datagram: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&sender.0.to_be_bytes());
    out.extend_from_slice(datagram);
}

/// Splits a forwarded datagram into its sender and the original datagram.
pub fn parse_forwarded(buf: &[u8]) -> Result<(ParticipantId, &[u8])> {
    need(buf, FORWARD_PREFIX_LEN + 1, "forwarded datagram")?;
    let (prefix, rest) = buf.split_at(FORWARD_PREFIX_LEN);
    Ok((
        ParticipantId(u16::from_be_bytes([prefix[0], prefix[1]])),
        rest,
    ))
}

/// Splits a plaintext body into payload and QualityReport trailer (present when
/// the header's Q flag is set).
pub fn split_quality<'a>(
    header: &MediaHeader,
    body: &'a [u8],
) -> Result<(&'a [u8], Option<QualityReport>)> {
    if !header.flags.quality_report {
        return Ok((body, None));
    }
    need(body, QUALITY_REPORT_LEN, "quality report trailer")?;
    let (payload, trailer) = body.split_at(body.len() - QUALITY_REPORT_LEN);
    Ok((payload, Some(QualityReport::decode(trailer)?)))
}

/// Writes a plain datagram: header, payload and, when Q is set, the trailer.
///
/// Fails if the Q flag and `quality` disagree, so a trailer is never silently
/// dropped or invented.
pub fn write_plain(
    header: &MediaHeader,
    payload: &[u8],
    quality: Option<&QualityReport>,
    out: &mut Vec<u8>,
) -> Result<()> {
    if header.flags.quality_report != quality.is_some() {
        return Err(ProtoError::LengthMismatch {
            what: "quality report trailer (Q flag vs report given)",
            declared: usize::from(header.flags.quality_report) * QUALITY_REPORT_LEN,
            actual: usize::from(quality.is_some()) * QUALITY_REPORT_LEN,
        });
    }
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
    if let Some(q) = quality {
        out.extend_from_slice(&q.encode());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CodecId, Seq, StreamId, TimestampMs};

    #[test]
    fn mini_vector() {
        let m = MiniHeader {
            seq_lsb: 0x2a,
            ts_lsb: 0x0102,
            payload_len: 3,
        };
        assert_eq!(m.encode(), [0x2a, 0x01, 0x02, 0x00, 0x03]);
        let frame = [0x01, 0x2a, 0x01, 0x02, 0x00, 0x03, 9, 9, 9];
        assert_eq!(
            Datagram::parse(&frame),
            Ok(Datagram::Mini {
                mini: m,
                payload: &[9, 9, 9]
            })
        );
        assert_eq!(
            Datagram::parse(&frame[..8]),
            Err(ProtoError::LengthMismatch {
                what: "mini frame payload",
                declared: 3,
                actual: 2
            })
        );
        assert!(matches!(
            Datagram::parse(&frame[..4]),
            Err(ProtoError::Truncated {
                what: "mini header",
                ..
            })
        ));
    }

    #[test]
    fn plain_with_trailer() {
        let mut h = MediaHeader::new(CodecId::Opus24k, StreamId(0), Seq(5), TimestampMs(100));
        h.flags.quality_report = true;
        let q = QualityReport {
            loss: 1,
            rtt_4ms: 2,
            jitter_ms: 3,
            bitrate_cap_kbps: 4,
        };
        let mut out = Vec::new();
        write_plain(&h, b"abc", Some(&q), &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.len(), 16 + 3 + 4);
        assert_eq!(&out[16..], &[b'a', b'b', b'c', 1, 2, 3, 4]);
        let Ok(Datagram::Plain { header, body }) = Datagram::parse(&out) else {
            panic!("not plain")
        };
        assert_eq!(header, h);
        assert_eq!(split_quality(&header, body), Ok((&b"abc"[..], Some(q))));
        // Q set but no room for the trailer.
        assert!(matches!(
            split_quality(&header, &[1, 2]),
            Err(ProtoError::Truncated {
                what: "quality report trailer",
                ..
            })
        ));
        assert!(write_plain(&h, b"abc", None, &mut out).is_err());
    }

    #[test]
    fn forwarded_prefix() {
        let mut out = Vec::new();
        write_forwarded(ParticipantId(0x0102), &[0x02, 9], &mut out);
        assert_eq!(out, vec![0x01, 0x02, 0x02, 9]);
        assert_eq!(
            parse_forwarded(&out),
            Ok((ParticipantId(0x0102), &[0x02, 9][..]))
        );
        assert!(matches!(
            parse_forwarded(&[1, 2]),
            Err(ProtoError::Truncated { .. })
        ));
    }

    #[test]
    fn first_byte_errors() {
        assert!(matches!(
            Datagram::parse(&[]),
            Err(ProtoError::Truncated { .. })
        ));
        let mut v1 = [0u8; 16];
        v1[0] = 0x01;
        assert_eq!(
            Datagram::parse_plain(&v1),
            Err(ProtoError::WrongVersion { found: 1 })
        );
        assert_eq!(
            Datagram::parse(&[0x03; 20]),
            Err(ProtoError::WrongVersion { found: 3 })
        );
        assert_eq!(
            Datagram::parse(&[0x80; 20]),
            Err(ProtoError::UnknownFrameTag(0x80))
        );
        // A full tag followed by a v1 header byte.
        let mut f = [0u8; 17];
        f[1] = 0x01;
        assert_eq!(
            Datagram::parse(&f),
            Err(ProtoError::WrongVersion { found: 1 })
        );
    }
}
