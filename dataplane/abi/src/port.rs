//! SNAT address and port selection: a hash of the flow picks the first candidate, and
//! collisions walk a fixed stride through the port range, so two CPUs racing for ports
//! probe different sequences and every attempt is bounded.

/// Lowest SNAT source port handed out.
pub const PORT_MIN: u16 = 1024;
/// Number of ports in the SNAT range (1024..=65535).
pub const PORT_SPAN: u32 = 65_536 - PORT_MIN as u32;
/// Candidates tried before a new flow is dropped as `DropPortExhausted`.
pub const PORT_TRIES: u32 = 8;
/// Stride between candidates; odd and large, so successive tries spread over the range.
pub const PORT_STRIDE: u32 = 10_007;

/// A cheap 32-bit mix (Murmur3 finaliser) of a flow's words.
#[inline(always)]
#[must_use]
pub const fn mix(mut h: u32, w: u32) -> u32 {
    h ^= w.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593);
    h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    h
}

/// Final avalanche of a `mix` chain.
#[inline(always)]
#[must_use]
pub const fn finish(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The `attempt`-th candidate port for a flow hash, in host byte order.
#[inline(always)]
#[must_use]
pub const fn candidate(hash: u32, attempt: u32) -> u16 {
    let slot = (hash % PORT_SPAN + attempt * PORT_STRIDE) % PORT_SPAN;
    #[expect(clippy::cast_possible_truncation, reason = "slot < PORT_SPAN, so the sum fits in u16")]
    let port = (PORT_MIN as u32 + slot) as u16;
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_stay_in_range_and_are_distinct() {
        for hash in [0, 1, 64_511, 64_512, u32::MAX, 0xdead_beef] {
            let mut seen = [0u16; PORT_TRIES as usize];
            for a in 0..PORT_TRIES {
                let p = candidate(hash, a);
                assert!(p >= PORT_MIN);
                assert!(!seen.contains(&p), "hash {hash} repeats port {p}");
                seen[a as usize] = p;
            }
        }
    }

    #[test]
    fn hash_spreads_neighbouring_source_ports() {
        let a = finish(mix(mix(0, 0x0a00_0005), 40_000));
        let b = finish(mix(mix(0, 0x0a00_0005), 40_001));
        assert_ne!(candidate(a, 0), candidate(b, 0));
    }
}
