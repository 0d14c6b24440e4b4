//! Map names, default capacities, and the key/value layouts of every map.
//!
//! Names are ABI: the loader pins each map under the bpffs directory by this name, and a
//! restarted daemon or the `eplink` CLI finds it there. Capacities are defaults; the loader
//! can override the sized ones at load time.

use crate::outcome::OUTCOME_COUNT;

/// Interfaces the program serves, for untagged frames: array indexed by ifindex → `IfaceInfo`
/// (role 0 = not served). An array lookup is a few inlined instructions, a hash lookup a
/// call and a hash: this is the lookup every packet makes first. Written by the daemon.
pub const MAP_IFACES: &str = "IFACES";
/// Interfaces for VLAN-tagged frames, and untagged ones whose ifindex is beyond `IFACES`:
/// `IfaceKey` → `IfaceInfo`. Written by the daemon.
pub const MAP_IFACES_EXT: &str = "IFACES_EXT";
/// ENI addresses: `EniKey` (VPC, address) → ENI index (`u32`). Written by the daemon.
pub const MAP_ENIS: &str = "ENIS";
/// Zone connections, one per ENI: array indexed by ENI index → `ZoneConn`. Written by the daemon.
pub const MAP_ZONE_CONNS: &str = "ZONE_CONNS";
/// SNAT address pools: array indexed by zone index → `SnatPool`. Written by the daemon.
pub const MAP_SNAT_POOLS: &str = "SNAT_POOLS";
/// Forward flows: LRU `FlowKey` (consumer view) → `FwdEntry`. Written by the program, swept by the daemon.
pub const MAP_CT_FWD: &str = "CT_FWD";
/// Reverse flows: LRU `FlowKey` (provider view, scope 0) → `RevEntry`. Written by the program.
pub const MAP_CT_REV: &str = "CT_REV";
/// Token buckets: array indexed by `eni * 2 + direction` → GCRA theoretical arrival time (`u64`).
pub const MAP_BUCKETS: &str = "BUCKETS";
/// Per-ENI per-CPU counters: array indexed by ENI index → `EniStats`.
pub const MAP_ENI_STATS: &str = "ENI_STATS";
/// Per-CPU counters of every outcome: array indexed by `Outcome` → `u64`.
pub const MAP_GLOBAL_STATS: &str = "GLOBAL_STATS";

/// Per-CPU exact-match flow cache in front of the flow tables: array of `FLOW_CACHE_SLOTS`
/// `CacheSlot`s per CPU, indexed by `cache_slot(key)`. Written by the program only.
pub const MAP_FLOW_CACHE: &str = "FLOW_CACHE";
/// The flow cache's epoch: array of two `u32`s, `[current, last]`. A slot is valid only if
/// it was filled in the current epoch; the daemon starts a new one whenever it deletes flows
/// that may still be in use. Current 0 turns the cache off; `last` is the highest epoch ever
/// used, so turning the cache back on never revives old slots.
pub const MAP_FLOW_CACHE_EPOCH: &str = "FLOW_CACHE_EPOCH";
/// Key generations of the flow cache: array of `FLOW_CACHE_SLOTS` `u32`s, shared by all
/// CPUs, indexed by `cache_slot(key)`. The program bumps an entry whenever it creates or
/// deletes a flow-table key of that slot index, and a slot filled before the bump no longer
/// serves: a key the LRU evicted and then gave to another flow never reaches the old one.
pub const MAP_FLOW_CACHE_KEYGEN: &str = "FLOW_CACHE_KEYGEN";

/// Every map name, for pinning, inspection and clean-up.
pub const ALL_MAPS: [&str; 13] = [
    MAP_IFACES,
    MAP_IFACES_EXT,
    MAP_ENIS,
    MAP_ZONE_CONNS,
    MAP_SNAT_POOLS,
    MAP_CT_FWD,
    MAP_CT_REV,
    MAP_BUCKETS,
    MAP_ENI_STATS,
    MAP_GLOBAL_STATS,
    MAP_FLOW_CACHE,
    MAP_FLOW_CACHE_EPOCH,
    MAP_FLOW_CACHE_KEYGEN,
];

/// Name of the XDP program in the object file.
pub const PROGRAM_NAME: &str = "eplink_xdp";
/// Name of the clock program in the object file (never attached; see `eplink_dataplane::Clock`).
pub const CLOCK_PROGRAM_NAME: &str = "eplink_clock";
/// Name of the benchmark baseline program in the object file (never attached).
pub const BASELINE_PROGRAM_NAME: &str = "eplink_baseline";

/// Capacity of `IFACES`: untagged interfaces with an ifindex below this use the array.
pub const IFACES_ARRAY_SIZE: u32 = 1024;
/// Capacity of `IFACES_EXT`.
pub const MAX_IFACES_EXT: u32 = 1024;
/// Capacity of ENI-indexed maps (`ENIS`, `ZONE_CONNS`, `ENI_STATS`; `BUCKETS` is twice this).
pub const MAX_ENIS: u32 = 65_536;
/// Capacity of `SNAT_POOLS` (zones served by one gateway host).
pub const MAX_ZONES: u32 = 64;
/// Default capacity of each flow table (`CT_FWD`, `CT_REV`).
pub const MAX_FLOWS: u32 = 1_048_576;
/// Slots of the flow cache, per CPU (a power of two).
pub const FLOW_CACHE_SLOTS: u32 = 4096;
/// Addresses per SNAT pool.
pub const SNAT_POOL_SIZE: usize = 8;

/// Address family tag used in keys and values.
pub const FAMILY_V4: u8 = 4;
/// Address family tag for IPv6 (the ABI carries it; the program serves IPv4 today).
pub const FAMILY_V6: u8 = 6;

/// Interface role: faces a consumer VPC.
pub const ROLE_CONSUMER: u32 = 1;
/// Interface role: faces the provider's load balancers.
pub const ROLE_PROVIDER: u32 = 2;

/// Zone connection state as the dataplane sees it: anything but `Connected` forwards nothing.
pub const ZONE_DISCONNECTED: u32 = 0;
/// The zone connection is `Connected`: new and existing flows forward.
pub const ZONE_CONNECTED: u32 = 1;

/// Bucket direction: consumer → service.
pub const DIR_FORWARD: u32 = 0;
/// Bucket direction: service → consumer.
pub const DIR_REVERSE: u32 = 1;

/// A 16-byte address; IPv4 lives in the first four bytes (network order), the rest zero.
pub type Addr = [u8; 16];

/// Builds an `Addr` from IPv4 octets.
#[must_use]
pub const fn addr_v4(o: [u8; 4]) -> Addr {
    let mut a = [0u8; 16];
    a[0] = o[0];
    a[1] = o[1];
    a[2] = o[2];
    a[3] = o[3];
    a
}

/// An interface the program serves: the ingress interface and the 802.1Q VLAN id (0 =
/// untagged). The key of `IFACES_EXT`; untagged interfaces below `IFACES_ARRAY_SIZE` live in
/// `IFACES` at index `ifindex` instead (`in_array`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceKey {
    pub ifindex: u32,
    pub vlan: u32,
}

impl IfaceKey {
    /// Whether this interface lives in the `IFACES` array (else in `IFACES_EXT`).
    #[must_use]
    #[inline(always)]
    pub const fn in_array(&self) -> bool {
        self.vlan == 0 && self.ifindex < IFACES_ARRAY_SIZE
    }
}

/// Value of `IFACES` and `IFACES_EXT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceInfo {
    /// `ROLE_CONSUMER` or `ROLE_PROVIDER`.
    pub role: u32,
    /// The consumer VPC's index (consumer role only): scopes ENI and flow lookups, so two
    /// VPCs may use the same addresses.
    pub vpc: u32,
    /// Consumer role: the interface whose routing decides the way to the service resources
    /// (the zone's provider-facing interface). Consumer interfaces usually sit in a VRF of
    /// their VPC, whose table does not (and must not) know the provider's routes.
    pub fib_ifindex: u32,
    pub _pad: u32,
}

/// Key of `ENIS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EniKey {
    pub vpc: u32,
    pub family: u8,
    pub _pad: [u8; 3],
    pub addr: Addr,
}

/// Value of `ZONE_CONNS`: what one ENI forwards to, and how fast.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneConn {
    /// `ZONE_CONNECTED` or `ZONE_DISCONNECTED`.
    pub state: u32,
    /// Bumped by the daemon each time the ENI index is given to a new ENI; flows remember
    /// it, so a flow of a deleted ENI never forwards through its successor.
    pub generation: u32,
    /// Index into `SNAT_POOLS`.
    pub zone: u32,
    /// Family of `vip`.
    pub family: u8,
    pub _pad: [u8; 3],
    /// The allocated service resource's address in this zone (the load balancer VIP).
    pub vip: Addr,
    /// GCRA cost of one byte, in bucket ticks (1/16 ns) scaled by 2^16; 0 = no limit.
    pub cost_per_byte_q16: u64,
    /// GCRA burst tolerance, in bucket ticks.
    pub tolerance_ticks: u64,
}

/// Value of `SNAT_POOLS`: the source addresses translated flows of a zone use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnatPool {
    /// Number of valid entries in `addrs`.
    pub count: u32,
    pub family: u8,
    pub _pad: [u8; 3],
    pub addrs: [Addr; SNAT_POOL_SIZE],
}

/// Key of both flow tables: an IPv4 5-tuple in a scope. `CT_FWD` uses the consumer VPC as
/// scope and the packet as the consumer sent it; `CT_REV` uses scope 0 and the reply as the
/// service sends it (source = VIP, destination = SNAT address and port).
///
/// Sixteen bytes, four words: the kernel hashes flow keys with `jhash2`, whose cost grows
/// with every three words, and this lookup is on every packet. IPv6 flows will get tables
/// of their own with a wider key, next to these; entries already carry 16-byte addresses.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address, network order.
    pub src: [u8; 4],
    /// Destination address, network order.
    pub dst: [u8; 4],
    pub sport_be: u16,
    pub dport_be: u16,
    /// `scope << 8 | IP protocol`, native order (see `new`, `scope`, `proto`).
    pub scope_proto: u32,
}

/// The largest flow scope (VPC index) a `FlowKey` holds: 24 bits.
pub const MAX_SCOPE: u32 = (1 << 24) - 1;

impl FlowKey {
    /// A key; `scope` must be at most `MAX_SCOPE` (higher bits are dropped).
    #[must_use]
    #[inline(always)]
    pub const fn new(scope: u32, proto: u8, (src, sport_be): ([u8; 4], u16), (dst, dport_be): ([u8; 4], u16)) -> Self {
        FlowKey { src, dst, sport_be, dport_be, scope_proto: (scope << 8) | proto as u32 }
    }

    /// The scope: the consumer VPC index for `CT_FWD`, 0 for `CT_REV`.
    #[must_use]
    #[inline(always)]
    pub const fn scope(&self) -> u32 {
        self.scope_proto >> 8
    }

    /// The IP protocol.
    #[must_use]
    #[inline(always)]
    #[expect(clippy::cast_possible_truncation, reason = "the low byte is the protocol")]
    pub const fn proto(&self) -> u8 {
        self.scope_proto as u8
    }
}

/// Value of `CT_FWD`: the NAT binding of a flow. Set once when the flow is created and kept
/// until it expires, even if the zone's allocation changes (smooth migration).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FwdEntry {
    /// New source (SNAT address).
    pub nat_src: Addr,
    /// New destination (the VIP allocated when the flow started).
    pub nat_dst: Addr,
    pub nat_sport_be: u16,
    pub _pad: u16,
    pub eni: u32,
    pub generation: u32,
    /// `flow::SEEN_*` bits observed in this direction.
    pub flags: u32,
    /// Jiffy of the last packet, refreshed at most every `flow::TOUCH_JIFFIES`.
    pub last_seen: u64,
    /// Cached FIB result towards `nat_dst`: egress interface (0 = none cached) ...
    pub nh_ifindex: u32,
    /// ... source MAC ...
    pub nh_smac: [u8; 6],
    /// ... and next-hop MAC, ...
    pub nh_dmac: [u8; 6],
    /// ... looked up at this jiffy; re-validated after `flow::NEXT_HOP_TTL_JIFFIES`.
    pub nh_checked: u64,
}

/// Value of `CT_REV`: how to restore a reply and where to send it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RevEntry {
    /// The consumer host's address: the reply's new destination.
    pub client: Addr,
    /// The ENI address: the reply's new source.
    pub eni_addr: Addr,
    pub client_port_be: u16,
    /// 802.1Q VLAN id the flow arrived with (0 = untagged): replies get the same tag.
    pub vlan: u16,
    /// The consumer VPC (scope of the forward key).
    pub vpc: u32,
    /// The consumer-facing interface the flow arrived on.
    pub ifindex: u32,
    pub eni: u32,
    pub generation: u32,
    pub flags: u32,
    /// The consumer host's MAC (source MAC of the forward packet).
    pub client_mac: [u8; 6],
    /// The gateway's MAC on the consumer side (destination MAC of the forward packet).
    pub gateway_mac: [u8; 6],
    pub _pad2: u32,
    /// Jiffy of the last reply, refreshed at most every `flow::TOUCH_JIFFIES`.
    pub last_seen: u64,
}

/// Value of `FLOW_CACHE` (per CPU): one established flow's translation, as the fast path
/// applies it, copied from its flow-table entry. One cache line.
///
/// A slot serves packets of `key` while `epoch` is the current epoch, `keygen` the key
/// generation of its slot index, and the jiffies are below `valid_until` (at most
/// `flow::CACHE_JIFFIES` after the fill, and never past the flow's next-hop
/// re-validation); the zone connection is still checked on every packet. Packets with SYN,
/// FIN or RST skip the cache, so the flow table records them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheSlot {
    pub key: FlowKey,
    /// The frame's new first 12 bytes: destination MAC, then source MAC.
    pub macs: [u8; 12],
    /// Epoch of the fill (0: never filled, or emptied).
    pub epoch: u32,
    /// New source address, destination address and ports, as native-order words of the
    /// packet bytes (source port first).
    pub new_src: u32,
    pub new_dst: u32,
    pub new_ports: u32,
    /// Interface to redirect to.
    pub ifindex: u32,
    pub eni: u32,
    /// Generation of the zone connection the flow belongs to.
    pub generation: u32,
    /// `FLOW_CACHE_KEYGEN[cache_slot(key)]` when the slot was filled.
    pub keygen: u32,
    /// Low 32 bits of the first jiffy at which the slot no longer serves (compared with
    /// wrapping arithmetic: windows are far below 2^31 jiffies).
    pub valid_until: u32,
}

/// The flow cache slot of a key: a multiplicative hash of its four words.
#[must_use]
#[inline(always)]
pub const fn cache_slot(k: &FlowKey) -> u32 {
    let h = u32::from_ne_bytes(k.src)
        ^ u32::from_ne_bytes(k.dst).rotate_left(11)
        ^ ((k.sport_be as u32) | ((k.dport_be as u32) << 16)).rotate_left(22)
        ^ k.scope_proto.rotate_left(5);
    h.wrapping_mul(0x9e37_79b1) >> (32 - FLOW_CACHE_SLOTS.trailing_zeros())
}

/// Value of `ENI_STATS` (per CPU): traffic and drops of one ENI. Bytes are whole frames as
/// the program saw them (Ethernet header included, after a VLAN tag was removed or before it
/// was added).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EniStats {
    pub fwd_packets: u64,
    pub fwd_bytes: u64,
    pub rev_packets: u64,
    pub rev_bytes: u64,
    /// Indexed by `Outcome`; only drop outcomes are counted here.
    pub drops: [u64; OUTCOME_COUNT],
}

impl Default for EniStats {
    fn default() -> Self {
        Self { fwd_packets: 0, fwd_bytes: 0, rev_packets: 0, rev_bytes: 0, drops: [0; OUTCOME_COUNT] }
    }
}

impl EniStats {
    /// Adds another CPU's counters to these.
    pub fn accumulate(&mut self, other: &EniStats) {
        self.fwd_packets += other.fwd_packets;
        self.fwd_bytes += other.fwd_bytes;
        self.rev_packets += other.rev_packets;
        self.rev_bytes += other.rev_bytes;
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
    }
}

const _: () = assert!(core::mem::size_of::<IfaceKey>() == 8);
const _: () = assert!(core::mem::size_of::<IfaceInfo>() == 16);
const _: () = assert!(core::mem::size_of::<EniKey>() == 24);
const _: () = assert!(core::mem::size_of::<ZoneConn>() == 48);
const _: () = assert!(core::mem::size_of::<SnatPool>() == 8 + 16 * SNAT_POOL_SIZE);
const _: () = assert!(core::mem::size_of::<FlowKey>() == 16);
const _: () = assert!(core::mem::size_of::<FwdEntry>() == 80);
const _: () = assert!(core::mem::size_of::<RevEntry>() == 80);
const _: () = assert!(core::mem::size_of::<EniStats>() == 8 * (4 + OUTCOME_COUNT));
const _: () = assert!(core::mem::size_of::<CacheSlot>() == 64);
const _: () = assert!(FLOW_CACHE_SLOTS.is_power_of_two());

#[cfg(feature = "user")]
mod pod {
    use super::{CacheSlot, EniKey, EniStats, FlowKey, FwdEntry, IfaceInfo, IfaceKey, RevEntry, SnatPool, ZoneConn};

    // SAFETY: every type is `#[repr(C)]`, `Copy`, made only of integers and byte arrays, and
    // has no implicit padding (the size assertions above pin the layouts), so any bit pattern
    // is a valid value and every byte is initialised.
    unsafe impl aya::Pod for IfaceKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for IfaceInfo {}
    // SAFETY: as above.
    unsafe impl aya::Pod for EniKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ZoneConn {}
    // SAFETY: as above.
    unsafe impl aya::Pod for SnatPool {}
    // SAFETY: as above.
    unsafe impl aya::Pod for FlowKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for FwdEntry {}
    // SAFETY: as above.
    unsafe impl aya::Pod for RevEntry {}
    // SAFETY: as above.
    unsafe impl aya::Pod for EniStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for CacheSlot {}
}
