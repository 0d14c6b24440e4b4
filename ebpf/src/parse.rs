//! Bounds-checked reads of the headers eplink looks at. No writes, no map access.

use aya_ebpf::programs::XdpContext;
use eplink_abi::{
    flow::{PROTO_TCP, PROTO_UDP},
    Outcome,
};

use crate::Exit;

pub const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
pub const ETH_P_IP: u16 = 0x0800;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPV4_MIN_HLEN: usize = 20;
const UDP_HLEN: usize = 8;
const TCP_MIN_HLEN: usize = 20;
/// Offset of the checksum within the TCP header.
pub const TCP_CSUM_OFF: usize = 16;
/// Offset of the checksum within the UDP header.
pub const UDP_CSUM_OFF: usize = 6;
const IP_MF: u16 = 0x2000;
const IP_OFFSET_MASK: u16 = 0x1fff;

/// `xdp_md->data` as a packet pointer.
///
/// `XdpContext::data` loads the 32-bit field and widens it with `as usize`; with ISA v3
/// (alu32) LLVM emits that widening as a 32-bit register move, which the verifier treats as
/// turning the packet pointer into a plain scalar ("invalid mem access 'scalar'"). A single
/// `ldxw` into a 64-bit register keeps it a pointer.
#[inline(always)]
pub fn data(ctx: &XdpContext) -> usize {
    let v: usize;
    // SAFETY: reads the first u32 of the program's xdp_md context, which is always valid.
    unsafe { core::arch::asm!("{0} = *(u32 *)({1} + 0)", out(reg) v, in(reg) ctx.ctx, options(readonly, nostack, pure)) };
    v
}

/// `xdp_md->data_end` as a packet-end pointer (see `data`).
#[inline(always)]
pub fn data_end(ctx: &XdpContext) -> usize {
    let v: usize;
    // SAFETY: reads the second u32 of the program's xdp_md context, which is always valid.
    unsafe { core::arch::asm!("{0} = *(u32 *)({1} + 4)", out(reg) v, in(reg) ctx.ctx, options(readonly, nostack, pure)) };
    v
}

/// `xdp_md->ingress_ifindex`, read with one `ldxw` from the context itself (see `data`):
/// LLVM may otherwise keep `ctx + 12` in a register, and the verifier rejects a
/// dereference of a modified context pointer.
#[inline(always)]
pub fn ingress_ifindex(ctx: &XdpContext) -> u32 {
    let v: u32;
    // SAFETY: reads the fourth u32 of the program's xdp_md context, which is always valid.
    unsafe { core::arch::asm!("{0} = *(u32 *)({1} + 12)", out(reg) v, in(reg) ctx.ctx, options(readonly, nostack, pure)) };
    v
}

/// A pointer to `len` bytes at `off`, or `DropMalformed` if the frame is shorter.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Result<*mut T, Exit> {
    let start = data(ctx);
    let end = data_end(ctx);
    if start + off + core::mem::size_of::<T>() > end {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    Ok((start + off) as *mut T)
}

/// Ethernet layer: where the network header starts, its EtherType, and the VLAN id.
pub struct Eth {
    pub l3_off: usize,
    pub ethertype: u16,
    pub vlan: u32,
}

/// Reads the Ethernet header and at most one 802.1Q/802.1ad tag.
#[inline(always)]
pub fn eth(ctx: &XdpContext) -> Result<Eth, Exit> {
    let hdr: *const [u8; ETH_HLEN] = ptr_at(ctx, 0)?;
    // SAFETY: ptr_at checked that ETH_HLEN bytes are inside the frame.
    let hdr = unsafe { &*hdr };
    let ethertype = u16::from_be_bytes([hdr[12], hdr[13]]);
    if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
        return Ok(Eth { l3_off: ETH_HLEN, ethertype, vlan: 0 });
    }
    let tag: *const [u8; VLAN_HLEN] = ptr_at(ctx, ETH_HLEN)?;
    // SAFETY: ptr_at checked the tag is inside the frame.
    let tag = unsafe { &*tag };
    let vlan = u32::from(u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff);
    Ok(Eth { l3_off: ETH_HLEN + VLAN_HLEN, ethertype: u16::from_be_bytes([tag[2], tag[3]]), vlan })
}

/// The IPv4 fields eplink needs, and where the transport header starts.
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub is_fragment: bool,
    pub l4_off: usize,
    /// Bytes from the IPv4 header to the end of the datagram (`tot_len`).
    pub tot_len: usize,
}

/// Reads and validates an IPv4 header: version 4, 5 <= IHL <= 15, IHL <= total length,
/// total length within the frame. Options are allowed (the transport header follows them).
#[inline(always)]
pub fn ipv4(ctx: &XdpContext, l3_off: usize) -> Result<Ipv4, Exit> {
    let hdr: *const [u8; IPV4_MIN_HLEN] = ptr_at(ctx, l3_off)?;
    // SAFETY: ptr_at checked the fixed header is inside the frame.
    let hdr = unsafe { &*hdr };
    if hdr[0] >> 4 != 4 {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    let hlen = usize::from(hdr[0] & 0x0f) * 4;
    let tot_len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if hlen < IPV4_MIN_HLEN || tot_len < hlen || data(ctx) + l3_off + tot_len > data_end(ctx) {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    Ok(Ipv4 {
        src: [hdr[12], hdr[13], hdr[14], hdr[15]],
        dst: [hdr[16], hdr[17], hdr[18], hdr[19]],
        proto: hdr[9],
        is_fragment: frag & (IP_MF | IP_OFFSET_MASK) != 0,
        l4_off: l3_off + hlen,
        tot_len,
    })
}

/// Transport ports (network byte order as read) and TCP flags (0 for UDP).
pub struct L4 {
    pub sport_be: u16,
    pub dport_be: u16,
    pub tcp_flags: u8,
    /// Offset of the transport checksum in the frame.
    pub csum_off: usize,
}

/// Reads the TCP or UDP header at `ip.l4_off`; it must lie within the datagram.
#[inline(always)]
pub fn l4(ctx: &XdpContext, ip: &Ipv4, l3_off: usize, is_tcp: bool) -> Result<L4, Exit> {
    let min = if is_tcp { TCP_MIN_HLEN } else { UDP_HLEN };
    if ip.l4_off + min > l3_off + ip.tot_len {
        return Err(Exit::new(Outcome::DropMalformed));
    }
    if is_tcp {
        let hdr: *const [u8; TCP_MIN_HLEN] = ptr_at(ctx, ip.l4_off)?;
        // SAFETY: ptr_at checked the header is inside the frame.
        let hdr = unsafe { &*hdr };
        if usize::from(hdr[12] >> 4) * 4 < TCP_MIN_HLEN {
            return Err(Exit::new(Outcome::DropMalformed));
        }
        Ok(L4 {
            sport_be: u16::from_ne_bytes([hdr[0], hdr[1]]),
            dport_be: u16::from_ne_bytes([hdr[2], hdr[3]]),
            tcp_flags: hdr[13],
            csum_off: ip.l4_off + TCP_CSUM_OFF,
        })
    } else {
        let hdr: *const [u8; UDP_HLEN] = ptr_at(ctx, ip.l4_off)?;
        // SAFETY: ptr_at checked the header is inside the frame.
        let hdr = unsafe { &*hdr };
        Ok(L4 {
            sport_be: u16::from_ne_bytes([hdr[0], hdr[1]]),
            dport_be: u16::from_ne_bytes([hdr[2], hdr[3]]),
            tcp_flags: 0,
            csum_off: ip.l4_off + UDP_CSUM_OFF,
        })
    }
}

/// The frames the fast path takes: untagged IPv4 without options or fragmentation, TCP or
/// UDP, every header inside the frame. Everything sits at a constant offset.
pub struct Plain {
    /// Packet pointers: the frame's first byte and one past its last.
    pub data: usize,
    pub end: usize,
    pub proto: u8,
    pub is_tcp: bool,
    /// TCP flags (0 for UDP).
    pub tcp_flags: u8,
}

/// Offset of the IPv4 header in a plain frame.
pub const PLAIN_L3: usize = ETH_HLEN;
/// Offset of the transport header in a plain frame.
pub const PLAIN_L4: usize = ETH_HLEN + IPV4_MIN_HLEN;

/// Reads `T` at `at` (a packet pointer) without alignment requirements.
///
/// # Safety
/// `at .. at + size_of::<T>()` must be inside the frame (checked against `data_end`).
#[inline(always)]
pub unsafe fn load<T: Copy>(at: usize) -> T {
    // SAFETY: the caller checked the bounds; packet data has no alignment guarantee, and
    // the object is built with `allows-misaligned-mem-access`, so this is one load.
    unsafe { core::ptr::read_unaligned(at as *const T) }
}

/// Classifies a frame for the fast path: `Some` if it is `Plain`, `None` for anything the
/// full pipeline must look at (tags, options, fragments, other protocols, short or
/// inconsistent lengths). Reads only; one bounds check covers every fixed offset.
#[inline(always)]
pub fn plain(ctx: &XdpContext) -> Option<Plain> {
    let data = data(ctx);
    let end = data_end(ctx);
    if data + PLAIN_L4 + UDP_HLEN > end {
        return None;
    }
    // SAFETY: the 42 bytes of Ethernet, IPv4 and UDP-sized headers are inside the frame.
    let (ethertype, vihl, tot_len, frag, proto) = unsafe {
        (
            load::<u16>(data + 12),
            load::<u8>(data + PLAIN_L3),
            u16::from_be(load::<u16>(data + PLAIN_L3 + 2)),
            load::<u16>(data + PLAIN_L3 + 6),
            load::<u8>(data + PLAIN_L3 + 9),
        )
    };
    if ethertype != ETH_P_IP.to_be() || vihl != 0x45 || frag & (IP_MF | IP_OFFSET_MASK).to_be() != 0 {
        return None;
    }
    let is_tcp = proto == PROTO_TCP;
    let l4_len = if is_tcp { TCP_MIN_HLEN } else { UDP_HLEN };
    let mut tcp_flags = 0;
    if !is_tcp && proto != PROTO_UDP {
        return None;
    }
    let tot_len = usize::from(tot_len);
    if tot_len < IPV4_MIN_HLEN + l4_len || data + PLAIN_L3 + tot_len > end {
        return None;
    }
    if is_tcp {
        if data + PLAIN_L4 + TCP_MIN_HLEN > end {
            return None;
        }
        // SAFETY: the fixed TCP header is inside the frame (checked just above).
        let (doff, flags) = unsafe { (load::<u8>(data + PLAIN_L4 + 12), load::<u8>(data + PLAIN_L4 + 13)) };
        if usize::from(doff >> 4) * 4 < TCP_MIN_HLEN {
            return None;
        }
        tcp_flags = flags;
    }
    Some(Plain { data, end, proto, is_tcp, tcp_flags })
}
