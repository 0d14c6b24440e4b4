//! The only module that writes packet bytes: address/port rewrites with incremental
//! checksums, MAC rewrites, and VLAN tag removal/insertion.

use aya_ebpf::{helpers::generated::bpf_xdp_adjust_head, programs::XdpContext, EbpfContext};
use eplink_abi::{csum, Outcome};

use crate::{
    parse::{load, ptr_at, Ipv4, L4, ETH_HLEN, ETH_P_IP},
    Exit,
};

/// What a translation changes, as the packet holds it, in native-order words: the source
/// and destination addresses and the two ports (source port in the first two bytes).
#[derive(Clone, Copy)]
pub struct Words {
    pub src: u32,
    pub dst: u32,
    pub ports: u32,
}

impl Words {
    #[inline(always)]
    pub fn new(src: [u8; 4], dst: [u8; 4], sport_be: u16, dport_be: u16) -> Words {
        let (s, d) = (sport_be.to_ne_bytes(), dport_be.to_ne_bytes());
        Words { src: u32::from_ne_bytes(src), dst: u32::from_ne_bytes(dst), ports: u32::from_ne_bytes([s[0], s[1], d[0], d[1]]) }
    }
}

const IP_CSUM_OFF: usize = 10;
const IP_SRC_OFF: usize = 12;
const IP_DST_OFF: usize = 16;

/// Where a translation writes: packet pointers to the IPv4 header, the transport ports and
/// the transport checksum.
pub struct Targets {
    pub l3: usize,
    pub ports: usize,
    pub l4_csum: usize,
}

/// Rewrites addresses and ports from `old` to `new`, updating the IPv4 header checksum and
/// the TCP/UDP checksum (pseudo-header and ports) incrementally, all as native-order words
/// (see `csum::diff_word`). A UDP checksum of 0 ("none") stays 0; a computed 0 is sent as
/// 0xffff (RFC 768).
///
/// # Safety
/// `t.l3 .. t.l3 + 20`, `t.ports .. t.ports + 4` and `t.l4_csum .. t.l4_csum + 2` must be
/// inside the frame.
#[inline(always)]
pub unsafe fn rewrite_words(t: &Targets, is_tcp: bool, old: &Words, new: &Words) {
    let addr_diff = csum::diff_word(old.src, new.src) + csum::diff_word(old.dst, new.dst);
    let port_diff = csum::diff_word(old.ports, new.ports);
    // SAFETY: the caller guarantees every access below is inside the frame.
    unsafe {
        let old_l4 = load::<u16>(t.l4_csum);
        if is_tcp || old_l4 != 0 {
            let mut c = csum::apply(old_l4, addr_diff + port_diff);
            if !is_tcp && c == 0 {
                c = 0xffff;
            }
            store(t.l4_csum, c);
        }
        store(t.l3 + IP_CSUM_OFF, csum::apply(load::<u16>(t.l3 + IP_CSUM_OFF), addr_diff));
        store(t.l3 + IP_SRC_OFF, new.src);
        store(t.l3 + IP_DST_OFF, new.dst);
        store(t.ports, new.ports);
    }
}

/// Writes `v` at packet pointer `at` without alignment requirements.
///
/// # Safety
/// `at .. at + size_of::<T>()` must be inside the frame.
#[inline(always)]
pub unsafe fn store<T>(at: usize, v: T) {
    // SAFETY: as `parse::load`.
    unsafe { core::ptr::write_unaligned(at as *mut T, v) }
}

/// `rewrite_words` for a frame parsed by the full pipeline (any header offsets).
#[inline(always)]
pub fn rewrite_v4(ctx: &XdpContext, l3_off: usize, ip: &Ipv4, l4: &L4, is_tcp: bool, new: &Words) -> Result<(), Exit> {
    let l4_csum: *mut [u8; 2] = ptr_at(ctx, l4.csum_off)?;
    let ports: *mut [u8; 4] = ptr_at(ctx, ip.l4_off)?;
    let l3: *mut [u8; 20] = ptr_at(ctx, l3_off)?;
    let t = Targets { l3: l3 as usize, ports: ports as usize, l4_csum: l4_csum as usize };
    let old = Words::new(ip.src, ip.dst, l4.sport_be, l4.dport_be);
    // SAFETY: ptr_at checked each region for its full size.
    unsafe { rewrite_words(&t, is_tcp, &old, new) };
    Ok(())
}

/// Removes the 802.1Q tag of a tagged frame (`l3_off` = 18), keeping the MACs.
#[inline(always)]
pub fn pop_vlan(ctx: &XdpContext) -> Result<(), Exit> {
    let hdr: *mut [u8; 16] = ptr_at(ctx, 0)?;
    // SAFETY: bounds-checked; the 12 MAC bytes move 4 bytes forward over the tag.
    unsafe {
        let h = &mut *hdr;
        h.copy_within(0..12, 4);
    }
    // SAFETY: ctx is the program's context; shrinking the head by 4 bytes of a frame that
    // holds at least 18 bytes of Ethernet header leaves a valid 14-byte header.
    if unsafe { bpf_xdp_adjust_head(ctx.as_ptr().cast(), 4) } != 0 {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    Ok(())
}

/// Inserts an 802.1Q tag with `vlan` in front of the (IPv4) payload of an untagged frame.
#[inline(always)]
pub fn push_vlan(ctx: &XdpContext, vlan: u16) -> Result<(), Exit> {
    // SAFETY: ctx is the program's context; growing the head needs 4 bytes of headroom,
    // which every XDP driver reserves (XDP_PACKET_HEADROOM is 256).
    if unsafe { bpf_xdp_adjust_head(ctx.as_ptr().cast(), -4) } != 0 {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    let hdr: *mut [u8; ETH_HLEN + 4] = ptr_at(ctx, 0)?;
    // SAFETY: bounds-checked after the head moved; MACs are rewritten by the caller.
    unsafe {
        let h = &mut *hdr;
        h[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        h[14..16].copy_from_slice(&vlan.to_be_bytes());
        h[16..18].copy_from_slice(&ETH_P_IP.to_be_bytes());
    }
    Ok(())
}

/// Sets the Ethernet source and destination MACs.
#[inline(always)]
pub fn set_macs(ctx: &XdpContext, src: &[u8; 6], dst: &[u8; 6]) -> Result<(), Exit> {
    let hdr: *mut [u8; 12] = ptr_at(ctx, 0)?;
    // SAFETY: bounds-checked 12 bytes of MACs.
    unsafe {
        let h = &mut *hdr;
        h[0..6].copy_from_slice(dst);
        h[6..12].copy_from_slice(src);
    }
    Ok(())
}

/// Writes the frame's first 12 bytes (destination MAC, source MAC) at packet pointer `at`
/// with four word-sized copies from `macs`, which sits 8-aligned in a map value.
///
/// # Safety
/// `at .. at + 12` must be inside the frame.
#[inline(always)]
pub unsafe fn write_frame_macs(at: usize, macs: &[u8; 12]) {
    let m = macs.as_ptr() as usize;
    // SAFETY: the caller guarantees the 12 packet bytes; the reads stay inside `macs`.
    unsafe {
        store(at, load::<u32>(m));
        store(at + 4, load::<u16>(m + 4));
        store(at + 6, load::<u16>(m + 6));
        store(at + 8, load::<u32>(m + 8));
    }
}

/// The source and destination MACs of the frame.
#[inline(always)]
pub fn macs(ctx: &XdpContext) -> Result<([u8; 6], [u8; 6]), Exit> {
    let hdr: *const [u8; 12] = ptr_at(ctx, 0)?;
    // SAFETY: bounds-checked 12 bytes of MACs.
    let h = unsafe { &*hdr };
    Ok((
        [h[6], h[7], h[8], h[9], h[10], h[11]],
        [h[0], h[1], h[2], h[3], h[4], h[5]],
    ))
}

const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const IP_TTL_OFF: usize = 8;
const REPLY_TTL: u8 = 64;

/// Turns an ICMP echo request into its reply in place (MACs and addresses swapped, type 0,
/// fresh TTL, both checksums updated). `false` if the packet is not an echo request.
#[inline(always)]
pub fn echo_reply(ctx: &XdpContext, l3_off: usize, ip: &Ipv4) -> Result<bool, Exit> {
    let icmp: *mut [u8; 4] = ptr_at(ctx, ip.l4_off)?;
    if ip.l4_off + 4 > l3_off + ip.tot_len {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    let eth: *mut [u8; 12] = ptr_at(ctx, 0)?;
    let iph: *mut [u8; 20] = ptr_at(ctx, l3_off)?;
    // SAFETY: every pointer was bounds-checked by ptr_at for its full size.
    unsafe {
        let i = &mut *icmp;
        if i[0] != ICMP_ECHO_REQUEST || i[1] != 0 {
            return Ok(false);
        }
        let c = u16::from_be_bytes([i[2], i[3]]);
        let c = csum::apply(c, csum::diff16(u16::from(ICMP_ECHO_REQUEST) << 8, u16::from(ICMP_ECHO_REPLY) << 8));
        i[0] = ICMP_ECHO_REPLY;
        i[2..4].copy_from_slice(&c.to_be_bytes());

        let e = &mut *eth;
        let (dst, src) = ([e[0], e[1], e[2], e[3], e[4], e[5]], [e[6], e[7], e[8], e[9], e[10], e[11]]);
        e[0..6].copy_from_slice(&src);
        e[6..12].copy_from_slice(&dst);

        // Swapping source and destination leaves the header checksum as it is; the TTL changes it.
        let h = &mut *iph;
        let old_ttl = u16::from_be_bytes([h[IP_TTL_OFF], h[IP_TTL_OFF + 1]]);
        h[IP_TTL_OFF] = REPLY_TTL;
        let new_ttl = u16::from_be_bytes([h[IP_TTL_OFF], h[IP_TTL_OFF + 1]]);
        let ipc = u16::from_be_bytes([h[IP_CSUM_OFF], h[IP_CSUM_OFF + 1]]);
        h[IP_CSUM_OFF..IP_CSUM_OFF + 2].copy_from_slice(&csum::apply(ipc, csum::diff16(old_ttl, new_ttl)).to_be_bytes());
        h[IP_SRC_OFF..IP_SRC_OFF + 4].copy_from_slice(&ip.dst);
        h[IP_SRC_OFF + 4..IP_SRC_OFF + 8].copy_from_slice(&ip.src);
    }
    Ok(true)
}
