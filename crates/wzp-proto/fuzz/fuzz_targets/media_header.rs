//! Any bytes as a media datagram: parsing never panics, and a header that
//! parses re-encodes to the same 16 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wzp_proto::{Datagram, MediaHeader, split_quality};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = MediaHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..16]);
    }
    for parsed in [Datagram::parse(data), Datagram::parse_plain(data)] {
        if let Ok(Datagram::Plain { header, body } | Datagram::Full { header, body }) = parsed {
            let _ = split_quality(&header, body);
        }
    }
});
