//! Bandwidth limiting: a GCRA (virtual scheduling) token bucket whose whole state is one
//! `u64`, the theoretical arrival time (TAT), so the XDP program can update it with a
//! single compare-and-exchange and no lock.
//!
//! Time is measured in ticks of 1/16 ns: fine enough that a 64-byte frame at 25 Gbit/s costs
//! 327 ticks (0.2 % rounding), coarse enough that a `u64` spans 36 years of uptime. The
//! per-byte cost is a Q16 fixed-point number of ticks, so no division runs per packet.

/// Bucket ticks per nanosecond.
pub const TICKS_PER_NS: u64 = 16;

/// Burst the bucket tolerates: this many nanoseconds of traffic at the limit rate ...
pub const BURST_NS: u64 = 2_000_000;
/// ... but never less than this many bytes, so a TCP window's burst at low rates passes.
pub const MIN_BURST_BYTES: u64 = 64 * 1024;

/// Limit parameters as stored in `ZoneConn`; `cost_per_byte_q16 == 0` means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub cost_per_byte_q16: u64,
    pub tolerance_ticks: u64,
}

impl Limit {
    /// No limit.
    pub const UNLIMITED: Limit = Limit { cost_per_byte_q16: 0, tolerance_ticks: 0 };

    /// The limit for `mbps` megabits per second (10^6 bit/s); `0` means unlimited.
    #[must_use]
    pub const fn from_mbps(mbps: u64) -> Limit {
        if mbps == 0 {
            return Limit::UNLIMITED;
        }
        let bits_per_sec = mbps * 1_000_000;
        // ticks per byte = 8 bit * 1e9 ns/s * 16 ticks/ns / (bit/s), in Q16.
        let cost_per_byte_q16 = (8 * 1_000_000_000 * TICKS_PER_NS * 65_536) / bits_per_sec;
        let burst_bytes_at_rate = bits_per_sec / 8 * BURST_NS / 1_000_000_000;
        let burst_bytes = if burst_bytes_at_rate > MIN_BURST_BYTES { burst_bytes_at_rate } else { MIN_BURST_BYTES };
        Limit { cost_per_byte_q16, tolerance_ticks: (burst_bytes * cost_per_byte_q16) >> 16 }
    }

    /// The GCRA cost, in ticks, of a frame of `bytes` bytes.
    #[inline(always)]
    #[must_use]
    pub const fn cost(&self, bytes: u64) -> u64 {
        (bytes * self.cost_per_byte_q16) >> 16
    }
}

/// Decision for one frame: `Some(new_tat)` to conform (store it), `None` to drop.
///
/// GCRA: a frame conforms when the bucket's TAT is at most `tolerance` ahead of now; the
/// new TAT is `max(tat, now) + cost`. An idle bucket (TAT far in the past) starts again
/// from now, so long idle times neither overflow nor bank unlimited credit.
#[inline(always)]
#[must_use]
pub const fn conform(tat: u64, now_ticks: u64, cost: u64, tolerance: u64) -> Option<u64> {
    let base = if tat > now_ticks { tat } else { now_ticks };
    if base - now_ticks > tolerance {
        return None;
    }
    Some(base + cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `frames` back-to-back frames of `size` bytes spaced `gap_ns` apart and returns how
    /// many bytes conformed.
    fn run(limit: Limit, size: u64, frames: u64, gap_ns: u64) -> u64 {
        let mut tat = 0;
        let mut passed = 0;
        for i in 0..frames {
            let now = (1_000_000_000 + i * gap_ns) * TICKS_PER_NS;
            if let Some(t) = conform(tat, now, limit.cost(size), limit.tolerance_ticks) {
                tat = t;
                passed += size;
            }
        }
        passed
    }

    #[test]
    fn r30_limit_holds_rate_over_a_second() {
        // 100 Mbit/s offered 1 Gbit/s of 1500-byte frames (one every 12 us) for one second.
        let limit = Limit::from_mbps(100);
        let passed = run(limit, 1500, 83_333, 12_000);
        let mbps = passed * 8 / 1_000_000;
        assert!((100..=106).contains(&mbps), "{mbps} Mbit/s passed");
    }

    #[test]
    fn r32_25_gbps_limit_is_accurate_for_small_frames() {
        // 25 Gbit/s offered 64-byte frames every 10 ns (51.2 Gbit/s) for 100 ms; the 2 ms
        // burst adds 2 % on top.
        let limit = Limit::from_mbps(25_600);
        let passed = run(limit, 64, 10_000_000, 10);
        let mbps = passed * 8 / 100_000; // bytes in 100 ms -> Mbit/s
        assert!((25_600..=26_200).contains(&mbps), "{mbps} Mbit/s passed");
    }

    #[test]
    fn traffic_under_the_limit_all_passes() {
        let limit = Limit::from_mbps(1000);
        // 1500 bytes every 20 us = 600 Mbit/s.
        assert_eq!(run(limit, 1500, 10_000, 20_000), 1500 * 10_000);
    }

    #[test]
    fn long_idle_time_neither_overflows_nor_banks_credit() {
        let limit = Limit::from_mbps(100);
        let tat = limit.cost(1500);
        // A year later: conforms from "now", not from a huge backlog of credit.
        let year_ticks = 365 * 24 * 3600 * 1_000_000_000 * TICKS_PER_NS;
        let t = conform(tat, year_ticks, limit.cost(1500), limit.tolerance_ticks).unwrap();
        assert_eq!(t, year_ticks + limit.cost(1500));
    }

    #[test]
    fn largest_cost_does_not_overflow() {
        // Smallest limit the API allows (100 Mbit/s) times the largest frame.
        let limit = Limit::from_mbps(1);
        assert!(limit.cost(65_535) < u64::MAX / 1024);
    }
}
