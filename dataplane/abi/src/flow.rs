//! Flow-state bits the program records in flow entries, and the expiry rule the daemon's
//! sweeper applies to them.

/// A SYN was seen in this direction.
pub const SEEN_SYN: u32 = 1 << 0;
/// A FIN was seen in this direction.
pub const SEEN_FIN: u32 = 1 << 1;
/// A RST was seen in this direction.
pub const SEEN_RST: u32 = 1 << 2;

/// Flow times are kernel jiffies (`bpf_jiffies64`): the verifier inlines that helper into
/// one load, where `bpf_ktime_get_*` is a call on every packet. Userspace reads the same
/// clock, and its rate (HZ), through `eplink_dataplane::Clock`.
///
/// `last_seen` is refreshed only when it is older than this, so established flows do not
/// write their flow entry on every packet (cache lines shared between CPUs stay clean).
/// 256 jiffies: 0.26 s at HZ=1000, 1 s at HZ=250, 2.6 s at HZ=100.
pub const TOUCH_JIFFIES: u64 = 256;

/// A flow cache slot (`CacheSlot`) serves a flow's packets at most this long after it was
/// filled from the flow table; the next packet after that goes to the table, which
/// refreshes `last_seen` and the slot. So `last_seen` lags a flow's last packet by at most
/// `TOUCH_JIFFIES + CACHE_JIFFIES`, the slack the sweeper allows.
pub const CACHE_JIFFIES: u64 = 256;

/// A flow's cached next hop (egress interface and MACs from `bpf_fib_lookup`) is trusted
/// this long; then the next packet looks the route up again. A FIB lookup per packet would
/// cost more than the rest of the pipeline together, and a route or neighbour change is
/// followed within this time (0.26-2.6 s, as `TOUCH_JIFFIES`).
pub const NEXT_HOP_TTL_JIFFIES: u64 = 256;

/// TCP flag bits as they appear in the 13th byte of the TCP header.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN flag bit.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST flag bit.
pub const TCP_RST: u8 = 0x04;

/// The `SEEN_*` bits a TCP header with these flags contributes.
#[inline(always)]
#[must_use]
pub const fn seen_bits(tcp_flags: u8) -> u32 {
    let mut bits = 0;
    if tcp_flags & TCP_SYN != 0 {
        bits |= SEEN_SYN;
    }
    if tcp_flags & TCP_FIN != 0 {
        bits |= SEEN_FIN;
    }
    if tcp_flags & TCP_RST != 0 {
        bits |= SEEN_RST;
    }
    bits
}

/// Idle timeouts, in nanoseconds, per kind of flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_established_ns: u64,
    pub tcp_closing_ns: u64,
    pub udp_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established_ns: 900 * 1_000_000_000,
            tcp_closing_ns: 10 * 1_000_000_000,
            udp_ns: 60 * 1_000_000_000,
        }
    }
}

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Whether a flow last seen at jiffy `last_seen` with `flags` (both directions OR-ed) has
/// expired at jiffy `now`, on a kernel ticking `hz` jiffies a second.
#[must_use]
pub const fn expired(proto: u8, flags: u32, last_seen: u64, now: u64, hz: u64, t: &Timeouts) -> bool {
    let limit_ns = if proto == PROTO_TCP {
        if flags & (SEEN_FIN | SEEN_RST) != 0 { t.tcp_closing_ns } else { t.tcp_established_ns }
    } else {
        t.udp_ns
    };
    // The program refreshes last_seen at most every TOUCH_JIFFIES, and the flow cache spares
    // the table for up to CACHE_JIFFIES more: allow for that slack.
    let idle = now.saturating_sub(last_seen).saturating_sub(TOUCH_JIFFIES + CACHE_JIFFIES);
    // idle / hz > limit_ns / 1e9, in integers wide enough for years of jiffies.
    idle as u128 * 1_000_000_000 > limit_ns as u128 * hz as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_bits_map_tcp_flags() {
        assert_eq!(seen_bits(TCP_SYN), SEEN_SYN);
        assert_eq!(seen_bits(TCP_SYN | 0x10), SEEN_SYN);
        assert_eq!(seen_bits(TCP_FIN | TCP_RST), SEEN_FIN | SEEN_RST);
        assert_eq!(seen_bits(0x10), 0);
    }

    #[test]
    fn closing_tcp_flows_expire_sooner_than_established_ones() {
        let t = Timeouts::default();
        for hz in [100, 250, 300, 1000] {
            let now = 10_000 * hz;
            let last = now - 30 * hz;
            assert!(!expired(PROTO_TCP, SEEN_SYN, last, now, hz, &t));
            assert!(expired(PROTO_TCP, SEEN_SYN | SEEN_FIN, last, now, hz, &t));
            assert!(!expired(PROTO_UDP, 0, last, now, hz, &t));
            let slack = TOUCH_JIFFIES + CACHE_JIFFIES;
            assert!(expired(PROTO_UDP, 0, now - 60 * hz - slack - 1, now, hz, &t));
            assert!(!expired(PROTO_UDP, 0, now - 60 * hz - slack, now, hz, &t));
        }
    }
}
