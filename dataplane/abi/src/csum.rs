//! Internet checksum arithmetic (RFC 1071) and incremental updates (RFC 1624).
//!
//! Checksums are handled as the 16-bit value read from the packet in network byte order
//! (`u16::from_be_bytes`), and so are the 16-bit words being replaced; the results are
//! written back the same way.

/// Folds a 32-bit (or wider) one's-complement sum to 16 bits.
#[inline(always)]
#[must_use]
pub const fn fold(mut sum: u64) -> u16 {
    // Four folds bring any u64 down to 16 bits; written out so the BPF verifier sees no loop.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    #[expect(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let s = sum as u16;
    s
}

/// Adds the 16-bit words of a 4-byte big-endian value to a running sum.
#[inline(always)]
#[must_use]
pub const fn add_word32(sum: u64, w: [u8; 4]) -> u64 {
    sum + u16::from_be_bytes([w[0], w[1]]) as u64 + u16::from_be_bytes([w[2], w[3]]) as u64
}

/// RFC 1624 eqn. 3: the new checksum after 16-bit words `old` were replaced by `new`,
/// given as a pre-accumulated sum of `!old + new` terms (see `diff16`, `diff32`).
#[inline(always)]
#[must_use]
pub const fn apply(check: u16, diff: u64) -> u16 {
    !fold((!check) as u64 + diff)
}

/// The `!old + new` term for one 16-bit word.
#[inline(always)]
#[must_use]
pub const fn diff16(old: u16, new: u16) -> u64 {
    (!old) as u64 + new as u64
}

/// The `!old + new` terms for a 4-byte value (an IPv4 address), big-endian bytes.
#[inline(always)]
#[must_use]
pub const fn diff32(old: [u8; 4], new: [u8; 4]) -> u64 {
    diff16(u16::from_be_bytes([old[0], old[1]]), u16::from_be_bytes([new[0], new[1]]))
        + diff16(u16::from_be_bytes([old[2], old[3]]), u16::from_be_bytes([new[2], new[3]]))
}

/// The `!old + new` terms for a 32-bit word read from the packet in *native* order.
///
/// A one's-complement sum does not depend on byte order (RFC 1071, 2.B): as long as the
/// checksum and the words are all read and written the same way, native-order arithmetic
/// gives the right bytes, without a byte swap per field.
#[inline(always)]
#[must_use]
pub const fn diff_word(old: u32, new: u32) -> u64 {
    (!old) as u64 + new as u64
}

/// Full checksum of a byte slice (host-side helper for tests and fixtures).
#[must_use]
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20-byte IPv4 header with its checksum field zeroed.
    const HDR: [u8; 20] = [
        0x45, 0, 0, 0x3c, 0x1c, 0x46, 0x40, 0, 0x40, 0x06, 0, 0, 0xac, 0x10, 0x0a, 0x63, 0xac, 0x10,
        0x0a, 0x0c,
    ];

    #[test]
    fn rfc1071_example_header_checksum() {
        // The classic example header checksums to 0xb1e6.
        assert_eq!(checksum(&HDR), 0xb1e6);
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut hdr = HDR;
        let old = checksum(&hdr);
        let (old_src, new_src) = ([0xac, 0x10, 0x0a, 0x63], [10, 99, 0, 7]);
        let (old_dst, new_dst) = ([0xac, 0x10, 0x0a, 0x0c], [192, 168, 200, 255]);
        hdr[12..16].copy_from_slice(&new_src);
        hdr[16..20].copy_from_slice(&new_dst);
        let inc = apply(old, diff32(old_src, new_src) + diff32(old_dst, new_dst));
        assert_eq!(inc, checksum(&hdr));
    }

    #[test]
    fn incremental_update_of_ports_equals_recomputation() {
        // Pseudo-header-free toy: a "segment" of words whose checksum we update word-wise.
        let mut seg = [0x12u8, 0x34, 0xff, 0xff, 0x00, 0x01, 0x80, 0x00];
        let old = checksum(&seg);
        seg[2..4].copy_from_slice(&0x0400u16.to_be_bytes());
        let inc = apply(old, diff16(0xffff, 0x0400));
        assert_eq!(inc, checksum(&seg));
    }

    #[test]
    fn native_order_words_update_like_big_endian_fields() {
        let mut h: [u8; 20] = [0x45, 0, 0, 60, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0, 10, 0, 0, 5, 10, 0, 0, 100];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let word = |h: &[u8; 20], at: usize| u32::from_ne_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let (new_src, new_dst) = (u32::from_ne_bytes([100, 64, 0, 1]), u32::from_ne_bytes([192, 0, 2, 10]));
        let d = diff_word(word(&h, 12), new_src) + diff_word(word(&h, 16), new_dst);
        let c_ne = apply(u16::from_ne_bytes([h[10], h[11]]), d);
        h[12..16].copy_from_slice(&new_src.to_ne_bytes());
        h[16..20].copy_from_slice(&new_dst.to_ne_bytes());
        h[10..12].copy_from_slice(&c_ne.to_ne_bytes());
        assert_eq!(checksum(&h), 0, "a header with a correct checksum sums to zero");
    }

    #[test]
    fn fold_handles_carries_from_the_top() {
        assert_eq!(fold(0xffff_ffff_ffff_ffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
    }
}
