//! The established-flow fast path: the packets of flows that already exist, in the common
//! shape (untagged IPv4, no options, TCP or UDP), translated with constant header offsets,
//! word-sized accesses and one flow-table lookup.
//!
//! It handles a packet completely or not at all: every check that could send the packet
//! elsewhere (no flow, a zone connection that changed, a next hop to look up again, a
//! reply that needs a VLAN tag) comes before the first write, and then the packet goes to
//! the full pipeline in `main.rs`, which handles it from scratch. The only state the fast
//! path changes before it commits is none: the bandwidth charge comes after those checks.

use aya_ebpf::{helpers::generated::bpf_redirect, programs::XdpContext};
use eplink_abi::{
    flow::NEXT_HOP_TTL_JIFFIES, FlowKey, IfaceInfo, Outcome, ZoneConn, DIR_FORWARD, DIR_REVERSE, IFACES_ARRAY_SIZE,
    ROLE_CONSUMER, ROLE_PROVIDER, ZONE_CONNECTED,
};

use crate::{
    bucket, ct,
    maps::{CT_FWD, CT_REV, IFACES, ZONE_CONNS},
    nat::{self, Targets, Words},
    parse::{self, load, Plain, PLAIN_L3, PLAIN_L4, TCP_CSUM_OFF, UDP_CSUM_OFF},
    stats,
};

/// `Some(action)` if the packet was an established flow's and has been sent or dropped
/// (and counted); `None` to run the full pipeline.
#[inline(always)]
pub fn established(ctx: &XdpContext) -> Option<u32> {
    let p = parse::plain(ctx)?;
    let ifindex = parse::ingress_ifindex(ctx);
    if ifindex >= IFACES_ARRAY_SIZE {
        return None;
    }
    let iface = IFACES.get(ifindex)?;
    // SAFETY: `plain` checked the IPv4 header and the ports are inside the frame.
    let old = unsafe {
        Words {
            src: load::<u32>(p.data + PLAIN_L3 + 12),
            dst: load::<u32>(p.data + PLAIN_L3 + 16),
            ports: load::<u32>(p.data + PLAIN_L4),
        }
    };
    match iface.role {
        ROLE_CONSUMER => forward(&p, iface, &old),
        ROLE_PROVIDER => reverse(&p, &old),
        _ => None,
    }
}

/// The flow key of a plain packet: its addresses and ports as they are, scope and protocol.
#[inline(always)]
fn key(old: &Words, scope: u32, proto: u8) -> FlowKey {
    let (s, d, ports) = (old.src.to_ne_bytes(), old.dst.to_ne_bytes(), old.ports.to_ne_bytes());
    FlowKey::new(
        scope,
        proto,
        (s, u16::from_ne_bytes([ports[0], ports[1]])),
        (d, u16::from_ne_bytes([ports[2], ports[3]])),
    )
}

/// The zone connection a flow was created under, if it still forwards.
#[inline(always)]
fn live_zone(eni: u32, generation: u32) -> Option<&'static ZoneConn> {
    let zc = ZONE_CONNS.get(eni)?;
    (zc.generation == generation && zc.state == ZONE_CONNECTED).then_some(zc)
}

/// Charges the frame to the bucket; a frame over the limit is dropped and counted here.
#[inline(always)]
fn charge(eni: u32, dir: u32, bytes: u64, zc: &ZoneConn) -> Result<(), u32> {
    bucket::charge(eni, dir, bytes, zc).map_err(|x| {
        stats::count(x.outcome, x.eni, bytes);
        aya_ebpf::bindings::xdp_action::XDP_DROP
    })
}

/// Where `rewrite_words` writes in a plain frame.
#[inline(always)]
fn targets(p: &Plain) -> Targets {
    let csum = if p.is_tcp { TCP_CSUM_OFF } else { UDP_CSUM_OFF };
    Targets { l3: p.data + PLAIN_L3, ports: p.data + PLAIN_L4, l4_csum: p.data + PLAIN_L4 + csum }
}

/// Consumer → service, for a flow with a fresh cached next hop.
#[inline(always)]
fn forward(p: &Plain, iface: &IfaceInfo, old: &Words) -> Option<u32> {
    let e = CT_FWD.get_ptr_mut(&key(old, iface.vpc, p.proto))?;
    // SAFETY: LRU map value, valid for the program's run; concurrent writers only set flag
    // bits, refresh the timestamp or re-cache the same next hop: benign races.
    let e = unsafe { &mut *e };
    let zc = live_zone(e.eni, e.generation)?;
    let now = ct::now_jiffies();
    if e.nh_ifindex == 0 || now >= e.nh_checked + NEXT_HOP_TTL_JIFFIES {
        return None;
    }
    let bytes = (p.end - p.data) as u64;
    if let Err(action) = charge(e.eni, DIR_FORWARD, bytes, zc) {
        return Some(action);
    }
    ct::touch(&mut e.last_seen, &mut e.flags, p.tcp_flags, now);
    let new = Words::new(crate::v4(&e.nat_src), crate::v4(&e.nat_dst), e.nat_sport_be, old.dport_be());
    // SAFETY: `plain` checked every header `targets` points into (and the 12 MAC bytes); the
    // MACs come from the flow entry, a map value.
    unsafe {
        nat::rewrite_words(&targets(p), p.is_tcp, old, &new);
        nat::write_macs(p.data, &e.nh_smac, &e.nh_dmac);
    }
    stats::count(Outcome::Forwarded, e.eni, bytes);
    // SAFETY: helper with plain integer arguments.
    Some(unsafe { bpf_redirect(e.nh_ifindex, 0) } as u32)
}

/// Service → consumer, for a flow whose consumer interface is untagged.
#[inline(always)]
fn reverse(p: &Plain, old: &Words) -> Option<u32> {
    let r = CT_REV.get_ptr_mut(&key(old, 0, p.proto))?;
    // SAFETY: LRU map value, valid for the program's run; see `forward`.
    let r = unsafe { &mut *r };
    if r.vlan != 0 {
        return None;
    }
    let zc = live_zone(r.eni, r.generation)?;
    let bytes = (p.end - p.data) as u64;
    if let Err(action) = charge(r.eni, DIR_REVERSE, bytes, zc) {
        return Some(action);
    }
    ct::touch(&mut r.last_seen, &mut r.flags, p.tcp_flags, ct::now_jiffies());
    let sport = old.ports.to_ne_bytes();
    let new = Words::new(crate::v4(&r.eni_addr), crate::v4(&r.client), u16::from_ne_bytes([sport[0], sport[1]]), r.client_port_be);
    // SAFETY: as in `forward`; the MACs come from the reverse entry, a map value.
    unsafe {
        nat::rewrite_words(&targets(p), p.is_tcp, old, &new);
        nat::write_macs(p.data, &r.gateway_mac, &r.client_mac);
    }
    stats::count(Outcome::Reversed, r.eni, bytes);
    // SAFETY: helper with plain integer arguments.
    Some(unsafe { bpf_redirect(r.ifindex, 0) } as u32)
}
