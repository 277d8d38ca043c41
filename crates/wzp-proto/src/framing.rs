//! Delimiting signal messages on a byte stream: a `u32` big-endian body length,
//! then the JSON body ([`signal`](crate::signal)).
//!
//! QUIC streams deliver bytes in chunks of any size, so [`FrameDecoder`] takes
//! whatever arrives and yields whole messages. A body longer than the cap is
//! refused before it is buffered (so a peer cannot make us allocate 4 GiB by
//! lying about a length); its bytes are then skipped so the stream stays in
//! step, and the error is reported once.

use crate::error::{ProtoError, Result};
use crate::signal::{Decoded, SignalMessage, decode_body, write_body};

/// Default cap on a signal body: 64 KiB.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// Size of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Appends one framed message (length prefix and body) to `out`. Fails, leaving
/// `out` as it was, if the body would exceed `max_frame`.
pub fn write_frame(msg: &SignalMessage, max_frame: usize, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX_LEN]);
    if let Err(e) = write_body(msg, out) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - start - LENGTH_PREFIX_LEN;
    let prefix = match u32::try_from(len) {
        Ok(l) if len <= max_frame => l.to_be_bytes(),
        _ => {
            out.truncate(start);
            return Err(ProtoError::FrameTooLarge {
                len,
                max: max_frame,
            });
        }
    };
    out[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&prefix);
    Ok(())
}

/// Counters kept by a [`FrameDecoder`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FrameStats {
    /// Messages decoded.
    pub messages: u64,
    /// Well-formed messages of unknown type, skipped.
    pub unknown: u64,
    /// Frames refused (oversized, empty, malformed, wrong version).
    pub errors: u64,
    /// Bytes discarded while skipping oversized frames.
    pub skipped_bytes: u64,
}

/// Streaming decoder of length-prefixed signal frames.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    pos: usize,
    max_frame: usize,
    /// Bytes of an oversized frame still to discard.
    skip: usize,
    stats: FrameStats,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder refusing bodies over `max_frame` bytes.
    #[must_use]
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            max_frame,
            skip: 0,
            stats: FrameStats::default(),
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// Bytes buffered but not yet decoded.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Feeds bytes as they arrived from the stream.
    pub fn push(&mut self, mut chunk: &[u8]) {
        if self.skip > 0 {
            let n = self.skip.min(chunk.len());
            self.skip -= n;
            self.stats.skipped_bytes += n as u64;
            chunk = &chunk[n..];
        }
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, `None` if more bytes are needed. An `Err` is for
    /// one frame only: keep calling to get the frames after it.
    pub fn next_frame(&mut self) -> Option<Result<Decoded>> {
        let avail = &self.buf[self.pos..];
        if avail.len() < LENGTH_PREFIX_LEN {
            return None;
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if len > self.max_frame {
            self.pos += LENGTH_PREFIX_LEN;
            let have = (self.buf.len() - self.pos).min(len);
            self.pos += have;
            self.skip = len - have;
            self.stats.skipped_bytes += have as u64;
            self.stats.errors += 1;
            tracing::warn!(len, max = self.max_frame, "oversized signal frame skipped");
            return Some(Err(ProtoError::FrameTooLarge {
                len,
                max: self.max_frame,
            }));
        }
        if len == 0 {
            self.pos += LENGTH_PREFIX_LEN;
            self.stats.errors += 1;
            return Some(Err(ProtoError::EmptyFrame));
        }
        if avail.len() < LENGTH_PREFIX_LEN + len {
            return None;
        }
        let body = &avail[LENGTH_PREFIX_LEN..LENGTH_PREFIX_LEN + len];
        let decoded = decode_body(body);
        self.pos += LENGTH_PREFIX_LEN + len;
        match &decoded {
            Ok(Decoded::Message(_)) => self.stats.messages += 1,
            Ok(Decoded::Unknown { .. }) => self.stats.unknown += 1,
            Err(e) => {
                self.stats.errors += 1;
                tracing::warn!(error = %e, "bad signal frame");
            }
        }
        Some(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(msg: &SignalMessage) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(msg, DEFAULT_MAX_FRAME, &mut out).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn prefix_is_big_endian_body_length() {
        let f = frame(&SignalMessage::Ping { ts_ms: 1 });
        let body = br#"{"v":2,"msg":{"type":"ping","ts_ms":1}}"#;
        assert_eq!(&f[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(&f[4..], body);
    }

    #[test]
    fn byte_at_a_time() {
        let msgs = [
            SignalMessage::Ping { ts_ms: 1 },
            SignalMessage::Pong { ts_ms: 2 },
        ];
        let wire: Vec<u8> = msgs.iter().flat_map(frame).collect();
        let mut d = FrameDecoder::default();
        let mut got = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(r) = d.next_frame() {
                got.push(r.unwrap_or_else(|e| panic!("{e}")));
            }
        }
        assert_eq!(got, msgs.map(Decoded::Message).to_vec());
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.stats().messages, 2);
    }

    #[test]
    fn oversized_frame_is_skipped_and_stream_continues() {
        let mut d = FrameDecoder::new(16);
        let mut wire = 100u32.to_be_bytes().to_vec();
        wire.extend(std::iter::repeat_n(b'x', 100));
        let ok = {
            let mut out = Vec::new();
            write_frame(&SignalMessage::Ping { ts_ms: 9 }, 1000, &mut out)
                .unwrap_or_else(|e| panic!("{e}"));
            out
        };
        // Ping's body is longer than 16, so allow it with a bigger decoder below.
        let mut d2 = FrameDecoder::new(64);
        wire.extend_from_slice(&ok);
        d.push(&wire[..50]);
        assert_eq!(
            d.next_frame(),
            Some(Err(ProtoError::FrameTooLarge { len: 100, max: 16 }))
        );
        assert_eq!(d.next_frame(), None);
        d2.push(&wire[..50]);
        assert_eq!(
            d2.next_frame(),
            Some(Err(ProtoError::FrameTooLarge { len: 100, max: 64 }))
        );
        d2.push(&wire[50..]);
        assert_eq!(
            d2.next_frame(),
            Some(Ok(Decoded::Message(SignalMessage::Ping { ts_ms: 9 })))
        );
        assert_eq!(d2.stats().skipped_bytes, 100);
        assert_eq!(d2.stats().errors, 1);
    }

    #[test]
    fn sender_cap_and_empty_frames() {
        let mut out = vec![7u8];
        let big = SignalMessage::Error {
            code: crate::signal::ErrorCode::Internal,
            message: "x".repeat(100),
        };
        assert!(matches!(
            write_frame(&big, 50, &mut out),
            Err(ProtoError::FrameTooLarge { max: 50, .. })
        ));
        assert_eq!(out, vec![7u8]);
        let mut d = FrameDecoder::default();
        d.push(&[0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Some(Err(ProtoError::EmptyFrame)));
    }

    #[test]
    fn malformed_body_does_not_stop_the_stream() {
        let mut d = FrameDecoder::default();
        d.push(&[0, 0, 0, 3, b'{', b'{', b'{']);
        d.push(&frame(&SignalMessage::Pong { ts_ms: 3 }));
        assert!(matches!(
            d.next_frame(),
            Some(Err(ProtoError::MalformedSignal(_)))
        ));
        assert_eq!(
            d.next_frame(),
            Some(Ok(Decoded::Message(SignalMessage::Pong { ts_ms: 3 })))
        );
    }
}
