//! eplink's XDP program: entry point and the forward/reverse pipelines.
//!
//! Consumer → service: parse → flow lookup (or ENI lookup and flow creation) → bandwidth →
//! rewrite to the allocated VIP from a SNAT address → FIB lookup → redirect.
//! Service → consumer: parse → reverse flow lookup → bandwidth → restore → redirect to the
//! consumer interface with the MACs the forward packet taught the flow.
//! Everything else goes to the kernel. Every packet ends in exactly one counted `Outcome`.
#![no_std]
#![no_main]
#![feature(core_intrinsics, asm_experimental_arch)]
#![allow(internal_features, reason = "atomic_cxchg and atomic_xadd: see bucket.rs")]

mod bucket;
mod ct;
mod fast;
mod maps;
mod nat;
mod parse;
mod stats;

use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibParams, xdp_action, BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS,
    },
    helpers::generated::{bpf_fib_lookup, bpf_jiffies64, bpf_ktime_get_ns, bpf_redirect},
    macros::xdp,
    programs::XdpContext,
    EbpfContext,
};
use eplink_abi::{
    addr_v4, Addr,
    flow::{NEXT_HOP_TTL_JIFFIES, PROTO_TCP, PROTO_UDP},
    EniKey, FlowKey, IfaceInfo, IfaceKey, Outcome, ZoneConn, DIR_FORWARD, DIR_REVERSE, FAMILY_V4, ROLE_CONSUMER,
    ROLE_PROVIDER, ZONE_CONNECTED,
};

use crate::{
    maps::{Scratch, CT_FWD, CT_REV, ENIS, IFACES, IFACES_EXT, SCRATCH, ZONE_CONNS},
    nat::Words,
    parse::{Eth, Ipv4, ETH_P_IP},
};

/// ENI index meaning "no ENI": the outcome is counted only globally.
pub const NO_ENI: u32 = u32::MAX;
const AF_INET: u8 = 2;
const PROTO_ICMP: u8 = 1;

/// Why a packet leaves the pipeline early: a pass or drop outcome, with the ENI it concerns.
pub struct Exit {
    pub outcome: Outcome,
    pub eni: u32,
}

impl Exit {
    #[inline(always)]
    pub const fn new(outcome: Outcome) -> Exit {
        Exit { outcome, eni: NO_ENI }
    }

    #[inline(always)]
    pub const fn eni(outcome: Outcome, eni: u32) -> Exit {
        Exit { outcome, eni }
    }
}

/// A packet sent on: the XDP action (a redirect) and what to count.
struct Sent {
    action: u32,
    outcome: Outcome,
    eni: u32,
}

#[xdp]
pub fn eplink_xdp(ctx: XdpContext) -> u32 {
    if let Some(action) = fast::established(&ctx) {
        return action;
    }
    finish(&ctx, try_xdp(&ctx))
}

/// Benchmark baseline, never attached: parses exactly as `eplink_xdp`'s fast path does
/// (`parse::plain`: Ethernet, IPv4, TCP/UDP header checks), rewrites the MACs and redirects
/// to the ingress interface; no maps, no NAT, no counters. `cargo xtask bench xdp` reports
/// the pipeline's cost as a ratio to this one's.
#[xdp]
pub fn eplink_baseline(ctx: XdpContext) -> u32 {
    if parse::plain(&ctx).is_none() {
        return xdp_action::XDP_DROP;
    }
    if nat::set_macs(&ctx, &[2, 0, 0, 0, 0, 1], &[2, 0, 0, 0, 0, 2]).is_err() {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: helper with plain integer arguments.
    let action = unsafe { bpf_redirect(parse::ingress_ifindex(&ctx), 0) } as u32;
    action
}

/// The flow clock for userspace, never attached: `BPF_PROG_TEST_RUN` it on a frame of at
/// least 16 bytes and read `bpf_jiffies64()` and `bpf_ktime_get_ns()` (native order) from
/// the first 16 bytes of the output. `eplink_dataplane::Clock` measures HZ with it.
#[xdp]
pub fn eplink_clock(ctx: XdpContext) -> u32 {
    let Ok(out) = parse::ptr_at::<[u64; 2]>(&ctx, 0) else { return xdp_action::XDP_ABORTED };
    // SAFETY: helpers without arguments; ptr_at checked the 16 bytes are inside the frame.
    unsafe { out.write_unaligned([bpf_jiffies64(), bpf_ktime_get_ns()]) };
    xdp_action::XDP_PASS
}

/// Counts the packet's outcome and returns its XDP action.
#[inline(always)]
fn finish(ctx: &XdpContext, result: Result<Sent, Exit>) -> u32 {
    let bytes = (parse::data_end(ctx) - parse::data(ctx)) as u64;
    match result {
        Ok(s) => {
            stats::count(s.outcome, s.eni, bytes);
            s.action
        }
        Err(e) => {
            stats::count(e.outcome, e.eni, bytes);
            if e.outcome.is_drop() { xdp_action::XDP_DROP } else { xdp_action::XDP_PASS }
        }
    }
}

#[inline(always)]
fn try_xdp(ctx: &XdpContext) -> Result<Sent, Exit> {
    let eth = parse::eth(ctx)?;
    let ifindex = parse::ingress_ifindex(ctx);
    let Some(iface) = iface_of(IfaceKey { ifindex, vlan: eth.vlan }) else {
        return Err(Exit::new(Outcome::PassUnknownInterface));
    };
    if eth.ethertype != ETH_P_IP {
        return Err(Exit::new(Outcome::PassNotIpv4));
    }
    let ip = parse::ipv4(ctx, eth.l3_off)?;
    // Large temporaries live in a per-CPU scratch slot: the BPF stack is 512 bytes.
    let Some(sc) = SCRATCH.get_ptr_mut(0) else {
        return Err(Exit::new(Outcome::DropFlowTableFull));
    };
    // SAFETY: per-CPU slot, used by this packet alone (XDP runs without preemption); this is
    // the only reference made to it.
    let sc = unsafe { &mut *sc };
    match iface.role {
        ROLE_CONSUMER => forward(ctx, &eth, &ip, &iface, ifindex, sc),
        ROLE_PROVIDER => reverse(ctx, &eth, &ip, sc),
        _ => Err(Exit::new(Outcome::PassUnknownInterface)),
    }
}

/// The role and VPC of the interface (and VLAN) a frame arrived on, if the program serves it.
#[inline(always)]
fn iface_of(key: IfaceKey) -> Option<IfaceInfo> {
    if key.in_array() {
        IFACES.get(key.ifindex).filter(|i| i.role != 0).copied()
    } else {
        // SAFETY: the value is copied before the program's run ends.
        unsafe { IFACES_EXT.get(&key) }.copied()
    }
}

/// The ENI index of (VPC, address), if the address is an ENI.
#[inline(always)]
fn eni_of(vpc: u32, addr: [u8; 4]) -> Option<u32> {
    let key = EniKey { vpc, family: FAMILY_V4, _pad: [0; 3], addr: addr_v4(addr) };
    // SAFETY: the value is copied before the program's run ends.
    unsafe { ENIS.get(&key) }.copied()
}

/// The zone connection of an ENI, if it is `Connected` and still the one the flow knew.
#[inline(always)]
fn connected_zone(eni: u32, generation: Option<u32>) -> Result<&'static ZoneConn, Exit> {
    // SAFETY: array map values live as long as the map.
    let Some(zc) = ZONE_CONNS.get(eni) else {
        return Err(Exit::eni(Outcome::DropZoneNotConnected, eni));
    };
    if generation.is_some_and(|g| g != zc.generation) {
        return Err(Exit::eni(Outcome::DropStaleFlow, eni));
    }
    if zc.state != ZONE_CONNECTED {
        return Err(Exit::eni(Outcome::DropZoneNotConnected, eni));
    }
    Ok(zc)
}

/// Consumer → service.
#[inline(always)]
fn forward(ctx: &XdpContext, eth: &Eth, ip: &Ipv4, iface: &IfaceInfo, ifindex: u32, sc: &mut Scratch) -> Result<Sent, Exit> {
    let is_tcp = ip.proto == PROTO_TCP;
    if !is_tcp && ip.proto != PROTO_UDP {
        return echo(ctx, eth, ip, iface);
    }
    if ip.is_fragment {
        // Without reassembly there are no ports to translate: drop fragments sent to an ENI.
        return Err(match eni_of(iface.vpc, ip.dst) {
            Some(eni) => Exit::eni(Outcome::DropFragment, eni),
            None => Exit::new(Outcome::PassNotEni),
        });
    }
    let l4 = parse::l4(ctx, ip, eth.l3_off, is_tcp)?;
    set_flow_key(&mut sc.key, iface.vpc, ip, &l4);
    let bytes = (parse::data_end(ctx) - parse::data(ctx)) as u64;

    // An existing flow keeps the binding it was created with (smooth migration, R28) and
    // its cached next hop; a new one is bound to the zone's current VIP and a SNAT address,
    // but created only after the route is known, so a packet dropped for want of a route
    // leaves no flow behind.
    let fib_if = if iface.fib_ifindex == 0 { ifindex } else { iface.fib_ifindex };
    let now = ct::now_jiffies();
    let (eni, src, dst, sport_be, next_hop) = if let Some(e) = CT_FWD.get_ptr_mut(&sc.key) {
        // SAFETY: LRU map value, valid for the program's run; concurrent writers only set
        // flag bits, refresh the timestamp or re-cache the same next hop: benign races.
        let e = unsafe { &mut *e };
        let zc = match connected_zone(e.eni, Some(e.generation)) {
            Ok(zc) => zc,
            Err(x) => {
                if x.outcome == Outcome::DropStaleFlow && CT_FWD.remove(&sc.key).is_ok() {
                    ct::bump_keygen(&sc.key);
                }
                return Err(x);
            }
        };
        bucket::charge(e.eni, DIR_FORWARD, bytes, zc)?;
        ct::touch(&mut e.last_seen, &mut e.flags, l4.tcp_flags, now);
        let (src, dst) = (v4(&e.nat_src), v4(&e.nat_dst));
        let nh = if e.nh_ifindex != 0 && now < e.nh_checked + NEXT_HOP_TTL_JIFFIES {
            Some(NextHop { ifindex: e.nh_ifindex, smac: e.nh_smac, dmac: e.nh_dmac })
        } else {
            let nh = fib(ctx, &mut sc.fib, fib_if, ip, (src, dst), e.eni)?;
            if let Some(nh) = &nh {
                e.nh_ifindex = nh.ifindex;
                e.nh_smac = nh.smac;
                e.nh_dmac = nh.dmac;
                e.nh_checked = now;
            }
            nh
        };
        (e.eni, src, dst, e.nat_sport_be, nh)
    } else {
        let Some(eni) = eni_of(iface.vpc, ip.dst) else {
            return Err(Exit::new(Outcome::PassNotEni));
        };
        let zc = connected_zone(eni, None)?;
        bucket::charge(eni, DIR_FORWARD, bytes, zc)?;
        let (snat, hash) = ct::pick_snat(&sc.key, zc, eni)?;
        let (src, dst) = (v4(&snat), v4(&zc.vip));
        // Route before creating state: a packet dropped for want of a route leaves no flow.
        let next_hop = fib(ctx, &mut sc.fib, fib_if, ip, (src, dst), eni)?;
        let (client_mac, gateway_mac) = nat::macs(ctx)?;
        #[expect(clippy::cast_possible_truncation, reason = "VLAN ids are 12 bits")]
        let nf = ct::NewFlow {
            eni,
            snat,
            hash,
            ifindex,
            vlan: eth.vlan as u16,
            client_mac,
            gateway_mac,
            tcp_flags: l4.tcp_flags,
            next_hop,
            now,
        };
        let sport_be = ct::create(sc, zc, &nf)?;
        (eni, src, dst, sport_be, nf.next_hop)
    };

    let rw = Words::new(src, dst, sport_be, l4.dport_be);
    nat::rewrite_v4(ctx, eth.l3_off, ip, &l4, is_tcp, &rw)?;
    if eth.vlan != 0 {
        nat::pop_vlan(ctx)?;
    }
    let Some(nh) = next_hop else {
        return Err(Exit::eni(Outcome::PassNoNeighbour, eni));
    };
    nat::set_macs(ctx, &nh.smac, &nh.dmac)?;
    // SAFETY: helper with plain integer arguments.
    let action = unsafe { bpf_redirect(nh.ifindex, 0) } as u32;
    Ok(Sent { action, outcome: Outcome::Forwarded, eni })
}

/// ICMP echo requests to an ENI are answered here; everything else goes to the kernel.
#[inline(always)]
fn echo(ctx: &XdpContext, eth: &Eth, ip: &Ipv4, iface: &IfaceInfo) -> Result<Sent, Exit> {
    let pass = Exit::new(Outcome::PassNotTcpUdp);
    if ip.proto != PROTO_ICMP || ip.is_fragment {
        return Err(pass);
    }
    let Some(eni) = eni_of(iface.vpc, ip.dst) else {
        return Err(pass);
    };
    if !nat::echo_reply(ctx, eth.l3_off, ip)? {
        return Err(pass);
    }
    // Redirect to the ingress interface rather than XDP_TX: veth flushes XDP_TX frames to
    // its peer only if the peer runs an XDP program itself, so with a plain peer they would
    // sit in its ring; a redirect's flush always wakes the peer.
    // SAFETY: helper with plain integer arguments.
    let action = unsafe { bpf_redirect(parse::ingress_ifindex(ctx), 0) } as u32;
    Ok(Sent { action, outcome: Outcome::EchoAnswered, eni })
}

/// Service → consumer.
#[inline(always)]
fn reverse(ctx: &XdpContext, eth: &Eth, ip: &Ipv4, sc: &mut Scratch) -> Result<Sent, Exit> {
    let is_tcp = ip.proto == PROTO_TCP;
    if !is_tcp && ip.proto != PROTO_UDP {
        return Err(Exit::new(Outcome::PassNotTcpUdp));
    }
    if ip.is_fragment {
        return Err(Exit::new(Outcome::PassNoFlow));
    }
    let l4 = parse::l4(ctx, ip, eth.l3_off, is_tcp)?;
    set_flow_key(&mut sc.key, 0, ip, &l4);
    let Some(r) = CT_REV.get_ptr_mut(&sc.key) else {
        return Err(Exit::new(Outcome::PassNoFlow));
    };
    // SAFETY: LRU map value, valid for the program's run; see `forward`.
    let r = unsafe { &mut *r };
    let zc = connected_zone(r.eni, Some(r.generation))?;
    let bytes = (parse::data_end(ctx) - parse::data(ctx)) as u64;
    bucket::charge(r.eni, DIR_REVERSE, bytes, zc)?;
    ct::touch(&mut r.last_seen, &mut r.flags, l4.tcp_flags, ct::now_jiffies());

    let rw = Words::new(v4(&r.eni_addr), v4(&r.client), l4.sport_be, r.client_port_be);
    nat::rewrite_v4(ctx, eth.l3_off, ip, &l4, is_tcp, &rw)?;
    if r.vlan != 0 {
        nat::push_vlan(ctx, r.vlan)?;
    }
    nat::set_macs(ctx, &r.gateway_mac, &r.client_mac)?;
    // SAFETY: helper with plain integer arguments.
    let action = unsafe { bpf_redirect(r.ifindex, 0) } as u32;
    Ok(Sent { action, outcome: Outcome::Reversed, eni: r.eni })
}

/// Writes the flow-table key of a packet as it arrived (forward: scope = VPC; reverse:
/// scope 0) in place.
#[inline(always)]
fn set_flow_key(k: &mut FlowKey, scope: u32, ip: &Ipv4, l4: &parse::L4) {
    *k = FlowKey::new(scope, ip.proto, (ip.src, l4.sport_be), (ip.dst, l4.dport_be));
}

/// Stores an IPv4 address into a 16-byte ABI address as four aligned words: building a
/// `[u8; 16]` by value makes LLVM zero 12 unaligned bytes with a call to a byte-looping
/// `memset` subprogram.
#[inline(always)]
pub fn set_v4(a: &mut Addr, v: [u8; 4]) {
    // SAFETY: same size; every address field of the ABI structs written here is 4-aligned
    // (their offsets are multiples of 4 in `#[repr(C)]` structs of 4-aligned fields), and
    // any bit pattern is valid for both types.
    unsafe { *core::ptr::from_mut(a).cast::<[u32; 4]>() = [u32::from_ne_bytes(v), 0, 0, 0] };
}

/// The IPv4 address in a 16-byte ABI address.
#[inline(always)]
pub fn v4(a: &[u8; 16]) -> [u8; 4] {
    [a[0], a[1], a[2], a[3]]
}

/// Egress interface and MACs towards a service resource.
#[derive(Clone, Copy)]
pub struct NextHop {
    pub ifindex: u32,
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
}

/// FIB lookup for (src, dst): `Some` next hop, `None` if the neighbour is not resolved yet
/// (the kernel forwards this packet and resolves it), `DropNoRoute` otherwise.
#[inline(always)]
fn fib(
    ctx: &XdpContext,
    p: &mut FibParams,
    ifindex: u32,
    ip: &Ipv4,
    (src, dst): ([u8; 4], [u8; 4]),
    eni: u32,
) -> Result<Option<NextHop>, Exit> {
    // SAFETY: an all-zero bpf_fib_lookup is a valid (empty) request.
    *p = unsafe { core::mem::zeroed() };
    p.family = AF_INET;
    p.l4_protocol = ip.proto;
    #[expect(clippy::cast_possible_truncation, reason = "tot_len came from a u16 field")]
    {
        p.__bindgen_anon_1.tot_len = ip.tot_len as u16;
    }
    p.ifindex = ifindex;
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(src);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(dst);
    // SAFETY: p is a properly sized, initialised bpf_fib_lookup on the stack.
    let rc = unsafe {
        bpf_fib_lookup(ctx.as_ptr(), core::ptr::from_mut(p), core::mem::size_of::<FibParams>() as i32, 0)
    };
    #[expect(clippy::cast_sign_loss, reason = "return codes are small non-negative enums")]
    match rc as u32 {
        BPF_FIB_LKUP_RET_SUCCESS => Ok(Some(NextHop { ifindex: p.ifindex, smac: p.smac, dmac: p.dmac })),
        BPF_FIB_LKUP_RET_NO_NEIGH => Ok(None),
        _ => Err(Exit::eni(Outcome::DropNoRoute, eni)),
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
