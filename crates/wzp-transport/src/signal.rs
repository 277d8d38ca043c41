//! The signal stream: one long-lived bidirectional QUIC stream per connection,
//! carrying length-prefixed signal messages in both directions, in order.

use wzp_proto::{DEFAULT_MAX_FRAME, Decoded, FrameDecoder, FrameStats, SignalMessage, write_frame};

use crate::error::{Result, TransportError};

/// Sending half of the signal stream.
#[derive(Debug)]
pub struct SignalSender {
    send: quinn::SendStream,
    buf: Vec<u8>,
    max_frame: usize,
}

impl SignalSender {
    pub(crate) fn new(send: quinn::SendStream) -> Self {
        Self {
            send,
            buf: Vec::with_capacity(512),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &SignalMessage) -> Result<()> {
        self.buf.clear();
        write_frame(msg, self.max_frame, &mut self.buf)?;
        self.send.write_all(&self.buf).await?;
        Ok(())
    }

    /// Writes bytes as they are, bypassing framing: for tests and fuzzing of
    /// a peer's decoder, never for real messages.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.send.write_all(bytes).await?;
        Ok(())
    }

    /// Waits until the peer has received everything sent (after
    /// [`SignalSender::finish`]) or stopped the stream.
    pub async fn stopped(&mut self) {
        let _ = self.send.stopped().await;
    }

    /// Ends the stream cleanly after what was sent.
    pub fn finish(&mut self) {
        let _ = self.send.finish();
    }
}

/// Receiving half of the signal stream.
#[derive(Debug)]
pub struct SignalReceiver {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    chunk: Vec<u8>,
}

impl SignalReceiver {
    pub(crate) fn new(recv: quinn::RecvStream) -> Self {
        Self {
            recv,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME),
            chunk: vec![0; 16 * 1024],
        }
    }

    /// The next message. `Ok(None)` when the peer finished the stream.
    ///
    /// A frame that does not decode returns `Err(TransportError::Proto(..))`
    /// and the stream stays usable: call again for the next frame. Other errors
    /// mean the stream is gone.
    pub async fn recv(&mut self) -> Result<Option<Decoded>> {
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return frame.map(Some).map_err(TransportError::from);
            }
            match self.recv.read(&mut self.chunk).await? {
                Some(n) => self.decoder.push(&self.chunk[..n]),
                None if self.decoder.buffered() == 0 => return Ok(None),
                None => {
                    return Err(TransportError::Proto(wzp_proto::ProtoError::Truncated {
                        what: "signal frame at end of stream",
                        needed: self.decoder.buffered() + 1,
                        got: self.decoder.buffered(),
                    }));
                }
            }
        }
    }

    /// Counters of the frame decoder.
    #[must_use]
    pub fn stats(&self) -> FrameStats {
        self.decoder.stats()
    }
}

impl TransportError {
    /// True when the connection or stream is unusable after this error; false
    /// for a single bad frame or datagram, after which the caller can go on.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::Proto(_)
                | Self::Refused { .. }
                | Self::Datagram(quinn::SendDatagramError::TooLarge)
        )
    }

    /// True when a new connection attempt may succeed where this one failed: the
    /// path timed out, the connection was reset, or the relay's endpoint refused new
    /// connections (it is shutting down or restarting, or at capacity). A call that
    /// was already up keeps reconnecting through these; a changed relay key, a
    /// protocol error or a refusal by the relay's own rules is not transient.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connection(c) => match c {
                quinn::ConnectionError::TimedOut | quinn::ConnectionError::Reset => true,
                quinn::ConnectionError::ConnectionClosed(close) => {
                    close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED
                }
                _ => false,
            },
            Self::StreamClosed | Self::NoAnswer { .. } => true,
            _ => false,
        }
    }
}
