//! Packets the kernel dropped on one of this process's UDP sockets because its
//! receive buffer was full.
//!
//! QUIC never sees these packets, so nothing in quinn counts them; a relay that
//! falls behind would lose media without a trace. Linux reports them per socket
//! in the `drops` column of `/proc/net/udp` and `/proc/net/udp6`. Elsewhere the
//! count is unknown (`None`).

use std::collections::HashSet;
use std::net::SocketAddr;

/// Packets dropped on this process's UDP socket bound to `local`'s port, or
/// `None` where the kernel does not say (not Linux, or no such socket).
#[must_use]
pub fn udp_receive_drops(local: SocketAddr) -> Option<u64> {
    let inodes = own_socket_inodes()?;
    ["/proc/net/udp", "/proc/net/udp6"]
        .into_iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| drops_in(&text, local.port(), &inodes))
}

/// Inodes of the sockets this process holds (`/proc/self/fd/N -> socket:[INODE]`).
fn own_socket_inodes() -> Option<HashSet<u64>> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(
        dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|link| {
                link.to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect(),
    )
}

/// The `drops` of the row in a `/proc/net/udp` table that is bound to `port`
/// and whose inode is one of `inodes` (so another process's socket on the same
/// port, on another address, is never read).
fn drops_in(table: &str, port: u16, inodes: &HashSet<u64>) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
        let inode: u64 = fields.get(9)?.parse().ok()?;
        if local_port != port || !inodes.contains(&inode) {
            return None;
        }
        fields.get(12)?.parse().ok()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  651: 0100007F:95F4 00000000:0000 07 00000000:00020800 00:00000000 00000000     0        0 2566233 2 0000000094d1fc0d 10935
  652: 0200007F:95F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000094d1fc0e 5
 5863: 0100007F:EA50 00000000:0000 07 00000000:0001FE00 00:00000000 00000000     0        0 2566236 2 00000000759a17c4 0
";

    #[test]
    fn the_row_of_our_socket_on_that_port_is_read() {
        let ours: HashSet<u64> = [2_566_233, 2_566_236].into_iter().collect();
        assert_eq!(drops_in(TABLE, 0x95F4, &ours), Some(10_935));
        assert_eq!(drops_in(TABLE, 0xEA50, &ours), Some(0));
        // Port 0x95F4 on 127.0.0.2 belongs to another process (inode 777).
        let theirs: HashSet<u64> = [2_566_236].into_iter().collect();
        assert_eq!(drops_in(TABLE, 0x95F4, &theirs), None);
        assert_eq!(drops_in(TABLE, 1, &ours), None);
        assert_eq!(drops_in("garbage\nmore garbage", 1, &ours), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_socket_reports_zero_drops() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(udp_receive_drops(s.local_addr().unwrap()), Some(0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_socket_reports_its_drops() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        // Nobody reads `rx`: once its buffer is full, the kernel drops the rest.
        for _ in 0..20_000 {
            let _ = tx.send_to(&[0u8; 200], to);
        }
        let drops = udp_receive_drops(to).unwrap();
        assert!(drops > 0, "{drops}");
    }
}
