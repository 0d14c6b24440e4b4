//! Connection tracking: flow lookup, creation with collision-safe SNAT port allocation,
//! and refresh of flow state.

use core::intrinsics::{atomic_xadd, AtomicOrdering::Relaxed};

use aya_ebpf::{bindings::BPF_NOEXIST, helpers::generated::bpf_jiffies64};
use eplink_abi::{
    flow::{seen_bits, TOUCH_JIFFIES},
    port::{candidate, finish, mix, PORT_TRIES},
    cache_slot, Addr, FlowKey, FwdEntry, Outcome, ZoneConn, SNAT_POOL_SIZE,
};

use crate::{
    maps::{Scratch, CT_FWD, CT_REV, FLOW_CACHE_KEYGEN, SNAT_POOLS},
    set_v4, v4, Exit, NextHop,
};

const EEXIST: i32 = 17;

/// The kernel's jiffies: flow times (see `eplink_abi::flow::TOUCH_JIFFIES`). The verifier
/// inlines this helper into a load of `jiffies_64`.
#[inline(always)]
pub fn now_jiffies() -> u64 {
    // SAFETY: helper without arguments (kernel >= 5.5).
    unsafe { bpf_jiffies64() }
}

/// Records TCP flags and, at most once per `TOUCH_JIFFIES`, the time of a flow's packet.
#[inline(always)]
pub fn touch(last_seen: &mut u64, flags: &mut u32, tcp_flags: u8, now: u64) {
    let bits = seen_bits(tcp_flags);
    if *flags & bits != bits {
        *flags |= bits;
    }
    if now > *last_seen + TOUCH_JIFFIES {
        *last_seen = now;
    }
}

/// Marks that the flow-table key `k` was created or deleted: flow cache slots of its slot
/// index filled before this no longer serve (see `eplink_abi::MAP_FLOW_CACHE_KEYGEN`).
#[inline(always)]
pub fn bump_keygen(k: &FlowKey) {
    if let Some(g) = FLOW_CACHE_KEYGEN.get_ptr_mut(cache_slot(k)) {
        // SAFETY: an aligned u32 inside an array map value, valid for the program's run;
        // every writer adds atomically (BPF_ATOMIC add).
        unsafe { atomic_xadd::<u32, u32, { Relaxed }>(g, 1) };
    }
}

/// Hash of a forward key: picks the SNAT address and the first candidate port.
#[inline(always)]
fn hash_v4(k: &FlowKey) -> u32 {
    let mut h = mix(0x9e37_79b9, k.scope());
    h = mix(h, u32::from_ne_bytes(k.src));
    h = mix(h, u32::from_ne_bytes(k.dst));
    h = mix(h, (u32::from(k.sport_be) << 16) | u32::from(k.dport_be));
    finish(mix(h, u32::from(k.proto())))
}

/// The SNAT address a new flow of this key uses, and the flow's hash.
#[inline(always)]
pub fn pick_snat(key: &FlowKey, zc: &ZoneConn, eni: u32) -> Result<(Addr, u32), Exit> {
    let none = Exit::eni(Outcome::DropNoSnatPool, eni);
    let Some(pool) = SNAT_POOLS.get(zc.zone) else {
        return Err(none);
    };
    if pool.count == 0 {
        return Err(none);
    }
    let h = hash_v4(key);
    // Multiply-shift instead of `%`: the verifier loses the bounds of a 32-bit modulo; the
    // mask keeps the index provably inside the array.
    let count = u64::from(if pool.count > SNAT_POOL_SIZE as u32 { SNAT_POOL_SIZE as u32 } else { pool.count });
    let idx = (((u64::from(h) & 0xffff) * count) >> 16) as usize & (SNAT_POOL_SIZE - 1);
    match pool.addrs.get(idx) {
        Some(a) => Ok((*a, h)),
        None => Err(none),
    }
}

/// Everything a new flow remembers besides its key.
pub struct NewFlow {
    pub eni: u32,
    pub snat: Addr,
    pub hash: u32,
    pub ifindex: u32,
    pub vlan: u16,
    pub client_mac: [u8; 6],
    pub gateway_mac: [u8; 6],
    pub tcp_flags: u8,
    /// The next hop found for the flow's first packet, if the neighbour was resolved.
    pub next_hop: Option<NextHop>,
    pub now: u64,
}

/// Creates the reverse and forward entries of a new flow. The reverse entry is inserted
/// first with `BPF_NOEXIST`, so a taken (VIP, port, SNAT address, SNAT port) is never
/// overwritten; if another CPU created the same forward flow meanwhile, its binding wins.
/// Returns the flow's SNAT source port (network byte order).
#[inline(always)]
pub fn create(sc: &mut Scratch, zc: &ZoneConn, nf: &NewFlow) -> Result<u16, Exit> {
    let Scratch { key, rev_key, rev, fwd, .. } = sc;
    let key = &*key;
    let now = nf.now;
    // Field by field: a struct literal with widened addresses would be built on the stack.
    set_v4(&mut rev.client, key.src);
    set_v4(&mut rev.eni_addr, key.dst);
    rev.client_port_be = key.sport_be;
    rev.vlan = nf.vlan;
    rev.vpc = key.scope();
    rev.ifindex = nf.ifindex;
    rev.eni = nf.eni;
    rev.generation = zc.generation;
    rev.flags = 0;
    rev.client_mac = nf.client_mac;
    rev.gateway_mac = nf.gateway_mac;
    rev._pad2 = 0;
    rev.last_seen = now;
    *rev_key = FlowKey::new(0, key.proto(), (v4(&zc.vip), key.dport_be), (v4(&nf.snat), 0));
    for attempt in 0..PORT_TRIES {
        rev_key.dport_be = candidate(nf.hash, attempt).to_be();
        if CT_REV.insert(&*rev_key, &*rev, u64::from(BPF_NOEXIST)).is_err() {
            continue;
        }
        *fwd = FwdEntry {
            nat_src: nf.snat,
            nat_dst: zc.vip,
            nat_sport_be: rev_key.dport_be,
            _pad: 0,
            eni: nf.eni,
            generation: zc.generation,
            flags: seen_bits(nf.tcp_flags),
            last_seen: now,
            nh_ifindex: 0,
            nh_smac: [0; 6],
            nh_dmac: [0; 6],
            nh_checked: now,
        };
        if let Some(nh) = &nf.next_hop {
            fwd.nh_ifindex = nh.ifindex;
            fwd.nh_smac = nh.smac;
            fwd.nh_dmac = nh.dmac;
        }
        return match CT_FWD.insert(key, &*fwd, u64::from(BPF_NOEXIST)) {
            Ok(()) => {
                bump_keygen(key);
                bump_keygen(rev_key);
                Ok(fwd.nat_sport_be)
            }
            Err(e) => {
                // Undo our reverse entry; if the LRU already evicted it there is nothing to undo.
                CT_REV.remove(&*rev_key).ok();
                // SAFETY: the value is copied out before the program's run ends.
                match unsafe { CT_FWD.get(key) } {
                    Some(winner) if e == -EEXIST => Ok(winner.nat_sport_be),
                    _ => Err(Exit::eni(Outcome::DropFlowTableFull, nf.eni)),
                }
            }
        };
    }
    Err(Exit::eni(Outcome::DropPortExhausted, nf.eni))
}
