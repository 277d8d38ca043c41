//! `wzp packet decode`: show what a media datagram says.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use wzp_proto::{Datagram, MediaHeader, MiniHeader, QualityReport, split_quality};

use crate::error::CliError;

/// Tag length of the AEAD on a sealed media packet (ChaCha20-Poly1305).
const AEAD_TAG_LEN: usize = 16;
/// Key-epoch byte in front of a sealed body.
const EPOCH_LEN: usize = 1;

/// `wzp packet ...`
#[derive(Debug, Subcommand)]
pub enum PacketCommand {
    /// Decode one media datagram given as hex or read from a file.
    Decode(DecodeArgs),
}

/// How the datagram is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Framing {
    /// Header first, no tag byte (a first byte of 0x01 is then a v1 header).
    Plain,
    /// Tag byte first: 0x00 full header, 0x01 mini header.
    Compact,
    /// Decide by the first byte: 0x02 plain, 0x00/0x01 compact.
    Auto,
}

/// Arguments of `wzp packet decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The datagram in hex (spaces and `:` are ignored).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    hex: Option<String>,
    /// Read the raw datagram bytes from this file instead.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// How the datagram is framed.
    #[arg(long, value_enum, default_value_t = Framing::Plain)]
    framing: Framing,
    /// The body is end-to-end encrypted (key epoch, ciphertext, tag): the payload
    /// length and QualityReport trailer are then hidden inside the ciphertext.
    #[arg(long)]
    encrypted: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// What `decode` found, as printed.
#[derive(Debug, Serialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
enum Report {
    /// A full header (plain or compact).
    Full {
        encoding: &'static str,
        codec_name: &'static str,
        header: MediaHeader,
        body_len: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload_len: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        quality: Option<QualityReport>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sealed: Option<Sealed>,
    },
    /// A mini header: seq and timestamp are only low bits until expanded against a stream.
    Mini {
        mini: MiniHeader,
        payload_len: usize,
    },
}

/// The visible parts of an encrypted body.
#[derive(Debug, Serialize)]
struct Sealed {
    key_epoch: u8,
    ciphertext_len: usize,
    tag_len: usize,
}

/// Runs a `wzp packet` subcommand.
pub fn run(cmd: PacketCommand) -> Result<(), CliError> {
    match cmd {
        PacketCommand::Decode(args) => {
            let bytes = read_input(&args)?;
            let report = decode(&bytes, args.framing, args.encrypted)?;
            let out = if args.json {
                serde_json::to_string_pretty(&report)?
            } else {
                render_text(&report)
            };
            println!("{out}");
            Ok(())
        }
    }
}

fn read_input(args: &DecodeArgs) -> Result<Vec<u8>, CliError> {
    if let Some(path) = &args.file {
        return std::fs::read(path).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        });
    }
    let text = args.hex.as_deref().unwrap_or_default();
    let clean: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(&clean).map_err(|e| CliError::Usage(format!("packet is not valid hex: {e}")))
}

fn decode(bytes: &[u8], framing: Framing, encrypted: bool) -> Result<Report, CliError> {
    let parsed = match framing {
        Framing::Plain => Datagram::parse_plain(bytes)?,
        Framing::Compact if bytes.first() == Some(&wzp_proto::MEDIA_VERSION) => {
            return Err(CliError::Usage(
                "first byte 0x02 is a plain header, not a compact tag (use --framing plain)".into(),
            ));
        }
        Framing::Compact | Framing::Auto => Datagram::parse(bytes)?,
    };
    Ok(match parsed {
        Datagram::Plain { header, body } | Datagram::Full { header, body } => {
            let encoding = if matches!(parsed, Datagram::Plain { .. }) {
                "plain"
            } else {
                "compact_full"
            };
            if body.is_empty() {
                // A header on its own (e.g. pasted from a capture): show it, and
                // leave the body fields out rather than call it truncated.
                Report::Full {
                    encoding,
                    codec_name: h_name(&header),
                    header,
                    body_len: 0,
                    payload_len: None,
                    quality: None,
                    sealed: None,
                }
            } else if encrypted {
                if body.len() < EPOCH_LEN + AEAD_TAG_LEN {
                    return Err(wzp_proto::ProtoError::Truncated {
                        what: "sealed body (epoch byte and 16-byte tag)",
                        needed: EPOCH_LEN + AEAD_TAG_LEN,
                        got: body.len(),
                    }
                    .into());
                }
                Report::Full {
                    encoding,
                    codec_name: h_name(&header),
                    header,
                    body_len: body.len(),
                    payload_len: None,
                    quality: None,
                    sealed: Some(Sealed {
                        key_epoch: body[0],
                        ciphertext_len: body.len() - EPOCH_LEN - AEAD_TAG_LEN,
                        tag_len: AEAD_TAG_LEN,
                    }),
                }
            } else {
                let (payload, quality) = split_quality(&header, body)?;
                Report::Full {
                    encoding,
                    codec_name: h_name(&header),
                    header,
                    body_len: body.len(),
                    payload_len: Some(payload.len()),
                    quality,
                    sealed: None,
                }
            }
        }
        Datagram::Mini { mini, payload } => Report::Mini {
            mini,
            payload_len: payload.len(),
        },
    })
}

fn h_name(h: &MediaHeader) -> &'static str {
    h.codec.info().name
}

fn render_text(report: &Report) -> String {
    let mut s = String::new();
    match report {
        Report::Full {
            encoding,
            codec_name,
            header: h,
            body_len,
            payload_len,
            quality,
            sealed,
        } => {
            let f = h.flags;
            let names: Vec<&str> = [
                (f.repair, "repair"),
                (f.quality_report, "quality_report"),
                (f.keyframe, "keyframe"),
                (f.frame_end, "frame_end"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
            let _ = writeln!(s, "frame       full header ({encoding})");
            let _ = writeln!(s, "version     2");
            let _ = writeln!(s, "flags       {:#04x} [{}]", f.byte(), names.join(" "));
            let _ = writeln!(s, "media type  {} ({})", h.media_type as u8, h.media_type);
            let _ = writeln!(s, "codec       {} ({codec_name})", h.codec.id());
            let _ = writeln!(s, "stream      {}", h.stream);
            let _ = writeln!(
                s,
                "fec ratio   {} ({:.2})",
                h.fec_ratio.byte(),
                h.fec_ratio.ratio()
            );
            let _ = writeln!(s, "sequence    {}", h.seq);
            let _ = writeln!(s, "timestamp   {}", h.timestamp);
            let _ = writeln!(s, "fec block   {:#06x}", h.fec_block);
            if *body_len == 0 {
                let _ = writeln!(s, "body        none (header only)");
                return s.trim_end().to_string();
            }
            let _ = writeln!(s, "body        {body_len} bytes");
            if let Some(p) = payload_len {
                let _ = writeln!(s, "payload     {p} bytes");
            }
            match (quality, sealed) {
                (Some(q), _) => {
                    let _ = writeln!(
                        s,
                        "quality     loss {:.1}% rtt {} ms jitter {} ms cap {} kbps",
                        q.loss_pct(),
                        q.rtt_ms(),
                        q.jitter_ms,
                        q.bitrate_cap_kbps
                    );
                }
                (None, Some(x)) => {
                    let _ = writeln!(
                        s,
                        "sealed      key epoch {}, ciphertext {} bytes, tag {} bytes (payload{} encrypted)",
                        x.key_epoch,
                        x.ciphertext_len,
                        x.tag_len,
                        if f.quality_report {
                            " and quality trailer"
                        } else {
                            ""
                        }
                    );
                }
                (None, None) => {
                    let _ = writeln!(s, "quality     none");
                }
            }
        }
        Report::Mini { mini, payload_len } => {
            let _ = writeln!(
                s,
                "frame       mini header (expands against the sender's last full header)"
            );
            let _ = writeln!(s, "seq low 8   {}", mini.seq_lsb);
            let _ = writeln!(s, "ts low 16   {}", mini.ts_lsb);
            let _ = writeln!(s, "payload     {payload_len} bytes");
        }
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wzp_proto::{CodecId, MediaType, ProtoError, Seq, StreamId, TimestampMs};

    const V: &str = "02700109023201020304deadbeef1234";

    fn bytes(h: &str) -> Vec<u8> {
        hex::decode(h).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn decodes_fields() {
        let mut b = bytes(V);
        b.extend_from_slice(&[1, 2, 3, 26, 26, 7, 200]);
        let Ok(Report::Full {
            header,
            payload_len,
            quality,
            ..
        }) = decode(&b, Framing::Plain, false)
        else {
            panic!("decode failed")
        };
        assert_eq!(header.media_type, MediaType::Video);
        assert_eq!(header.codec, CodecId::H264Baseline);
        assert_eq!(header.stream, StreamId(2));
        assert_eq!(header.seq, Seq(0x0102_0304));
        assert_eq!(header.timestamp, TimestampMs(0xdead_beef));
        assert_eq!(payload_len, Some(3));
        assert_eq!(quality.map(|q| q.rtt_ms()), Some(104));
    }

    #[test]
    fn header_alone_decodes_even_with_q_set() {
        let Ok(Report::Full {
            header,
            body_len: 0,
            quality: None,
            ..
        }) = decode(&bytes(V), Framing::Plain, false)
        else {
            panic!("decode failed")
        };
        assert!(header.flags.quality_report);
        // But a body too short for the trailer is an error.
        let mut b = bytes(V);
        b.push(1);
        assert!(matches!(
            decode(&b, Framing::Plain, false),
            Err(CliError::Proto(ProtoError::Truncated { .. }))
        ));
    }

    #[test]
    fn names_errors() {
        let mut b = bytes(V);
        b[0] = 1;
        assert!(matches!(
            decode(&b, Framing::Plain, false),
            Err(CliError::Proto(ProtoError::WrongVersion { found: 1 }))
        ));
        b[0] = 2;
        b[1] = 0x08;
        assert!(matches!(
            decode(&b, Framing::Plain, false),
            Err(CliError::Proto(ProtoError::ReservedBits { flags: 0x08 }))
        ));
    }

    #[test]
    fn sealed_body_view() {
        let mut b = bytes(V);
        b.extend_from_slice(&[7; 1 + 10 + 16]);
        let Ok(Report::Full {
            sealed: Some(s),
            quality: None,
            ..
        }) = decode(&b, Framing::Plain, true)
        else {
            panic!("decode failed")
        };
        assert_eq!((s.key_epoch, s.ciphertext_len), (7, 10));
    }
}
