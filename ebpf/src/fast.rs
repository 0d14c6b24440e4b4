//! The established-flow fast path: the packets of flows that already exist, in the common
//! shape (untagged IPv4, no options, TCP or UDP), translated with constant header offsets
//! and word-sized accesses.
//!
//! A per-CPU exact-match cache (`FLOW_CACHE`, one slot per key hash) holds each recent
//! flow's translation, so a steady flow costs a few inlined array lookups instead of a
//! flow-table lookup (a hash and four kernel calls). A slot is filled from the flow table
//! and serves for at most `CACHE_JIFFIES`; then the next packet goes to the table again,
//! which refreshes the flow's `last_seen` and re-checks its next hop. The daemon
//! invalidates every slot at once by bumping `FLOW_CACHE_EPOCH` when it deletes flows.
//! Packets with SYN, FIN or RST always use the table, which records them. Per CPU, a slot
//! is only ever written by the program running on that CPU: no torn reads.
//!
//! A slot also records its slot index's key generation (`FLOW_CACHE_KEYGEN`, shared): the
//! program bumps it whenever it creates or deletes a flow-table key of that index, so a key
//! the LRU evicted and gave to a new flow never reaches the old flow's translation.
//!
//! The fast path handles a packet completely or changes no flow state: every check that
//! could send it elsewhere (no flow, a zone connection that changed, a next hop to look up
//! again, a reply that needs a VLAN tag) comes before the first write to a flow, and then
//! the packet goes to the full pipeline in `main.rs`, which handles it from scratch. (It may
//! empty the cache slot that failed it.)

use aya_ebpf::{bindings::xdp_action, helpers::generated::bpf_redirect, programs::XdpContext};
use eplink_abi::{
    cache_slot,
    flow::{CACHE_JIFFIES, NEXT_HOP_TTL_JIFFIES, TCP_FIN, TCP_RST, TCP_SYN},
    CacheSlot, FlowKey, Outcome, ZoneConn, DIR_FORWARD, DIR_REVERSE, ROLE_CONSUMER, ROLE_PROVIDER, ZONE_CONNECTED,
};

use crate::{
    bucket, ct,
    maps::{CT_FWD, CT_REV, FLOW_CACHE, FLOW_CACHE_EPOCH, FLOW_CACHE_KEYGEN, IFACES, ZONE_CONNS},
    nat::{self, Targets, Words},
    parse::{self, load, Plain, PLAIN_L3, PLAIN_L4, TCP_CSUM_OFF, UDP_CSUM_OFF},
    stats, v4,
};

/// `Some(action)` if the packet was an established flow's and has been sent or dropped
/// (and counted); `None` to run the full pipeline.
#[inline(always)]
pub fn established(ctx: &XdpContext) -> Option<u32> {
    let p = parse::plain(ctx)?;
    let iface = IFACES.get(parse::ingress_ifindex(ctx))?;
    let (scope, dir) = match iface.role {
        ROLE_CONSUMER => (iface.vpc, DIR_FORWARD),
        ROLE_PROVIDER => (0, DIR_REVERSE),
        _ => return None,
    };
    // SAFETY: `plain` checked the IPv4 header and the ports are inside the frame.
    let old = unsafe {
        Words {
            src: load::<u32>(p.data + PLAIN_L3 + 12),
            dst: load::<u32>(p.data + PLAIN_L3 + 16),
            ports: load::<u32>(p.data + PLAIN_L4),
        }
    };
    let key = key(&old, scope, p.proto);
    let index = cache_slot(&key);
    let slot = FLOW_CACHE.get_ptr_mut(index)?;
    // SAFETY: per-CPU slot: only the program on this CPU writes it, and XDP runs without
    // preemption, so nothing else touches it while this reference lives.
    let slot = unsafe { &mut *slot };
    let keygen = FLOW_CACHE_KEYGEN.get_ptr_mut(index)?;
    // SAFETY: an aligned u32 in an array map value; writers add atomically, so a plain
    // volatile load sees some whole value.
    let keygen = unsafe { core::ptr::read_volatile(keygen) };
    let now = ct::now_jiffies();
    let epoch = FLOW_CACHE_EPOCH.get(0).copied().unwrap_or(0);
    let hit = epoch != 0
        && p.tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0
        && slot.epoch == epoch
        && slot.keygen == keygen
        && jiffies_before(now, slot.valid_until)
        && slot.key == key;
    let zc = if hit {
        let Some(zc) = live_zone(slot.eni, slot.generation) else {
            // Let the full pipeline count it (and drop a stale flow); stop serving the slot.
            slot.epoch = 0;
            return None;
        };
        zc
    } else {
        // The key generation is read before the table: a key re-created after this read
        // bumps it, and the slot filled now stops serving.
        let zc = if dir == DIR_FORWARD { fill_forward(slot, &key, &p, now)? } else { fill_reverse(slot, &key, &p, now)? };
        slot.epoch = epoch;
        slot.keygen = keygen;
        zc
    };
    let bytes = (p.end - p.data) as u64;
    if let Err(x) = bucket::charge(slot.eni, dir, bytes, zc) {
        stats::count(x.outcome, x.eni, bytes);
        return Some(xdp_action::XDP_DROP);
    }
    let new = Words { src: slot.new_src, dst: slot.new_dst, ports: slot.new_ports };
    let csum = if p.is_tcp { TCP_CSUM_OFF } else { UDP_CSUM_OFF };
    let t = Targets { l3: p.data + PLAIN_L3, ports: p.data + PLAIN_L4, l4_csum: p.data + PLAIN_L4 + csum };
    // SAFETY: `plain` checked every header `t` points into and the 12 MAC bytes; the MACs
    // come from the cache slot, a map value.
    unsafe {
        nat::rewrite_words(&t, p.is_tcp, &old, &new);
        nat::write_frame_macs(p.data, &slot.macs);
    }
    stats::count(if dir == DIR_FORWARD { Outcome::Forwarded } else { Outcome::Reversed }, slot.eni, bytes);
    // SAFETY: helper with plain integer arguments.
    Some(unsafe { bpf_redirect(slot.ifindex, 0) } as u32)
}

/// The flow key of a plain packet: its addresses and ports as they are, scope and protocol.
#[inline(always)]
fn key(old: &Words, scope: u32, proto: u8) -> FlowKey {
    let ports = old.ports.to_ne_bytes();
    FlowKey::new(
        scope,
        proto,
        (old.src.to_ne_bytes(), u16::from_ne_bytes([ports[0], ports[1]])),
        (old.dst.to_ne_bytes(), u16::from_ne_bytes([ports[2], ports[3]])),
    )
}

/// The zone connection a flow was created under, if it still forwards.
#[inline(always)]
fn live_zone(eni: u32, generation: u32) -> Option<&'static ZoneConn> {
    let zc = ZONE_CONNS.get(eni)?;
    (zc.generation == generation && zc.state == ZONE_CONNECTED).then_some(zc)
}

/// Fills `slot` from the forward flow table, if the flow exists, its zone connection still
/// forwards and its next hop is fresh; refreshes the flow's `last_seen` and flags. Nothing
/// is written unless every check passes.
#[inline(always)]
fn fill_forward(slot: &mut CacheSlot, key: &FlowKey, p: &Plain, now: u64) -> Option<&'static ZoneConn> {
    let e = CT_FWD.get_ptr_mut(key)?;
    // SAFETY: LRU map value, valid for the program's run; concurrent writers only set flag
    // bits, refresh the timestamp or re-cache the same next hop: benign races.
    let e = unsafe { &mut *e };
    let nh_until = e.nh_checked + NEXT_HOP_TTL_JIFFIES;
    if e.nh_ifindex == 0 || now >= nh_until {
        return None;
    }
    let zc = live_zone(e.eni, e.generation)?;
    ct::touch(&mut e.last_seen, &mut e.flags, p.tcp_flags, now);
    let until = if nh_until < now + CACHE_JIFFIES { nh_until } else { now + CACHE_JIFFIES };
    let new = Words::new(v4(&e.nat_src), v4(&e.nat_dst), e.nat_sport_be, key.dport_be);
    write_slot(slot, key, (&e.nh_dmac, &e.nh_smac), &new, (e.nh_ifindex, e.eni, e.generation), until);
    Some(zc)
}

/// Fills `slot` from the reverse flow table, if the flow exists, its zone connection still
/// forwards and its consumer side is untagged; refreshes the flow's `last_seen` and flags.
/// Nothing is written unless every check passes.
#[inline(always)]
fn fill_reverse(slot: &mut CacheSlot, key: &FlowKey, p: &Plain, now: u64) -> Option<&'static ZoneConn> {
    let r = CT_REV.get_ptr_mut(key)?;
    // SAFETY: LRU map value, valid for the program's run; see `fill_forward`.
    let r = unsafe { &mut *r };
    if r.vlan != 0 {
        return None;
    }
    let zc = live_zone(r.eni, r.generation)?;
    ct::touch(&mut r.last_seen, &mut r.flags, p.tcp_flags, now);
    let new = Words::new(v4(&r.eni_addr), v4(&r.client), key.sport_be, r.client_port_be);
    write_slot(slot, key, (&r.client_mac, &r.gateway_mac), &new, (r.ifindex, r.eni, r.generation), now + CACHE_JIFFIES);
    Some(zc)
}

/// Writes a flow's translation into its cache slot (the caller sets epoch and key generation).
#[inline(always)]
fn write_slot(
    slot: &mut CacheSlot,
    key: &FlowKey,
    (dst_mac, src_mac): (&[u8; 6], &[u8; 6]),
    new: &Words,
    (ifindex, eni, generation): (u32, u32, u32),
    valid_until: u64,
) {
    slot.key = *key;
    slot.macs[0..6].copy_from_slice(dst_mac);
    slot.macs[6..12].copy_from_slice(src_mac);
    slot.new_src = new.src;
    slot.new_dst = new.dst;
    slot.new_ports = new.ports;
    slot.ifindex = ifindex;
    slot.eni = eni;
    slot.generation = generation;
    slot.valid_until = low32(valid_until);
}

/// The low 32 bits of a jiffy count (slot windows are far below 2^31 jiffies).
#[inline(always)]
#[expect(clippy::cast_possible_truncation, reason = "wrapping 32-bit jiffies, by design")]
fn low32(jiffies: u64) -> u32 {
    jiffies as u32
}

/// Whether jiffy `now` is before `until` (both wrapping 32-bit).
#[inline(always)]
#[expect(clippy::cast_possible_wrap, reason = "serial-number comparison")]
fn jiffies_before(now: u64, until: u32) -> bool {
    (until.wrapping_sub(low32(now)) as i32) > 0
}
