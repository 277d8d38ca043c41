//! Packets the kernel dropped on one of this process's UDP sockets because its
//! receive buffer was full.
//!
//! QUIC never sees these packets, so nothing in quinn counts them; a relay that
//! falls behind would lose media without a trace. Linux reports them per socket
//! in the `drops` column of `/proc/net/udp` and `/proc/net/udp6`. Elsewhere the
//! count is unknown (`None`).

use std::collections::HashSet;

/// Packets the kernel dropped on the UDP sockets of process `pid` (`None`: this
/// process) bound to any of `ports`, summed; `None` where the kernel does not
/// say (not Linux, no such socket, or another user's process).
#[must_use]
pub fn udp_receive_drops(pid: Option<u32>, ports: &[u16]) -> Option<u64> {
    let fd_dir = match pid {
        Some(pid) => format!("/proc/{pid}/fd"),
        None => "/proc/self/fd".to_owned(),
    };
    let inodes = socket_inodes(&fd_dir)?;
    let ports: HashSet<u16> = ports.iter().copied().collect();
    ["/proc/net/udp", "/proc/net/udp6"]
        .into_iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .filter_map(|text| drops_in(&text, &ports, &inodes))
        .reduce(|a, b| a + b)
}

/// Inodes of the sockets a process holds (`FD_DIR/N -> socket:[INODE]`).
fn socket_inodes(fd_dir: &str) -> Option<HashSet<u64>> {
    let dir = std::fs::read_dir(fd_dir).ok()?;
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

/// The summed `drops` of the rows in a `/proc/net/udp` table bound to one of
/// `ports` whose inode is one of `inodes` (so another process's socket on the
/// same port, on another address, is never read); `None` if no row matched.
fn drops_in(table: &str, ports: &HashSet<u16>, inodes: &HashSet<u64>) -> Option<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            let inode: u64 = fields.get(9)?.parse().ok()?;
            if !ports.contains(&port) || !inodes.contains(&inode) {
                return None;
            }
            fields.get(12)?.parse::<u64>().ok()
        })
        .reduce(|a, b| a + b)
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
    fn the_rows_of_our_sockets_on_those_ports_are_summed() {
        let ours: HashSet<u64> = [2_566_233, 2_566_236].into_iter().collect();
        let ports = |p: &[u16]| p.iter().copied().collect::<HashSet<u16>>();
        assert_eq!(drops_in(TABLE, &ports(&[0x95F4]), &ours), Some(10_935));
        assert_eq!(drops_in(TABLE, &ports(&[0xEA50]), &ours), Some(0));
        assert_eq!(
            drops_in(TABLE, &ports(&[0x95F4, 0xEA50]), &ours),
            Some(10_935)
        );
        // Port 0x95F4 on 127.0.0.2 belongs to another process (inode 777).
        let theirs: HashSet<u64> = [2_566_236].into_iter().collect();
        assert_eq!(drops_in(TABLE, &ports(&[0x95F4]), &theirs), None);
        assert_eq!(drops_in(TABLE, &ports(&[1]), &ours), None);
        assert_eq!(drops_in("garbage\nmore garbage", &ports(&[1]), &ours), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_socket_reports_zero_drops() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert_eq!(udp_receive_drops(None, &[port]), Some(0));
        let me = std::process::id();
        assert_eq!(udp_receive_drops(Some(me), &[port]), Some(0));
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
        let drops = udp_receive_drops(None, &[to.port()]).unwrap();
        assert!(drops > 0, "{drops}");
    }
}
