//! Any bytes as a signal stream, fed in chunks whose sizes come from the input:
//! never panics, and a message that decodes re-encodes to a frame that decodes
//! to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wzp_proto::{Decoded, FrameDecoder, write_frame};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk.max(1));
    let mut d = FrameDecoder::new(4096);
    for piece in stream.chunks(chunk) {
        d.push(piece);
        while let Some(r) = d.next_frame() {
            if let Ok(Decoded::Message(m)) = r {
                let mut wire = Vec::new();
                if write_frame(&m, usize::MAX, &mut wire).is_ok() {
                    let mut d2 = FrameDecoder::new(usize::MAX);
                    d2.push(&wire);
                    assert_eq!(d2.next_frame(), Some(Ok(Decoded::Message(m))));
                }
            }
        }
    }
});
