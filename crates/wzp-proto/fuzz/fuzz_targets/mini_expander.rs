//! A stream of datagrams (split on a length byte) through one expander: never
//! panics, and every datagram is accounted for in its counters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wzp_proto::Expander;

fuzz_target!(|data: &[u8]| {
    let mut e = Expander::new();
    let mut rest = data;
    let mut n = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (d, next) = tail.split_at(take);
        let _ = e.expand(d);
        n += 1;
        rest = next;
    }
    let s = e.stats();
    assert_eq!(s.full + s.mini + s.mini_without_baseline + s.malformed, n);
});
