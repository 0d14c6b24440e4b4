//! Every map of the program: the layouts live in `eplink_abi`, names and capacities too.
//! All maps are pinned by name, so a restarted daemon adopts them with their flows.
//!
//! Writers: the daemon writes IFACES, ENIS, ZONE_CONNS, SNAT_POOLS; the program writes
//! CT_FWD, CT_REV, BUCKETS and the stats; the daemon's sweeper deletes expired flows.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
};
use aya_ebpf::bindings::bpf_fib_lookup;
use eplink_abi::{
    CacheSlot, EniKey, EniStats, FlowKey, FwdEntry, IfaceInfo, IfaceKey, RevEntry, SnatPool, ZoneConn, MAX_ENIS, MAX_FLOWS,
    FLOW_CACHE_SLOTS, IFACES_ARRAY_SIZE, MAX_IFACES_EXT, MAX_ZONES, OUTCOME_COUNT,
};


/// ifindex → role and VPC of each untagged interface the program serves (role 0: none).
#[map(name = "IFACES")]
pub static IFACES: Array<IfaceInfo> = Array::pinned(IFACES_ARRAY_SIZE, 0);

/// (ifindex, VLAN) → role and VPC: tagged frames and ifindexes beyond `IFACES`.
#[map(name = "IFACES_EXT")]
pub static IFACES_EXT: HashMap<IfaceKey, IfaceInfo> = HashMap::pinned(MAX_IFACES_EXT, 0);

/// (VPC, ENI address) → ENI index.
#[map(name = "ENIS")]
pub static ENIS: HashMap<EniKey, u32> = HashMap::pinned(MAX_ENIS, 0);

/// ENI index → its zone connection: state, allocated VIP, SNAT zone, bandwidth limit.
#[map(name = "ZONE_CONNS")]
pub static ZONE_CONNS: Array<ZoneConn> = Array::pinned(MAX_ENIS, 0);

/// Zone index → SNAT address pool.
#[map(name = "SNAT_POOLS")]
pub static SNAT_POOLS: Array<SnatPool> = Array::pinned(MAX_ZONES, 0);

/// Forward flows, keyed as the consumer sends them.
#[map(name = "CT_FWD")]
pub static CT_FWD: LruHashMap<FlowKey, FwdEntry> = LruHashMap::pinned(MAX_FLOWS, 0);

/// Reverse flows, keyed as the service replies.
#[map(name = "CT_REV")]
pub static CT_REV: LruHashMap<FlowKey, RevEntry> = LruHashMap::pinned(MAX_FLOWS, 0);

/// `eni * 2 + direction` → GCRA theoretical arrival time, in bucket ticks.
#[map(name = "BUCKETS")]
pub static BUCKETS: Array<u64> = Array::pinned(MAX_ENIS * 2, 0);

/// ENI index → per-CPU traffic and drop counters.
#[map(name = "ENI_STATS")]
pub static ENI_STATS: PerCpuArray<EniStats> = PerCpuArray::pinned(MAX_ENIS, 0);

/// `Outcome` → per-CPU packet count.
#[map(name = "GLOBAL_STATS")]
#[expect(clippy::cast_possible_truncation, reason = "OUTCOME_COUNT is a small constant")]
pub static GLOBAL_STATS: PerCpuArray<u64> = PerCpuArray::pinned(OUTCOME_COUNT as u32, 0);

/// Per-CPU exact-match cache of established flows' translations (see `fast.rs`).
#[map(name = "FLOW_CACHE")]
pub static FLOW_CACHE: PerCpuArray<CacheSlot> = PerCpuArray::pinned(FLOW_CACHE_SLOTS, 0);

/// The flow cache's `[current, last]` epochs (current 0 = cache off), set by the daemon.
#[map(name = "FLOW_CACHE_EPOCH")]
pub static FLOW_CACHE_EPOCH: Array<u32> = Array::pinned(2, 0);

/// Key generations of the flow cache's slot indexes, shared by all CPUs (see `ct.rs`).
#[map(name = "FLOW_CACHE_KEYGEN")]
pub static FLOW_CACHE_KEYGEN: Array<u32> = Array::pinned(FLOW_CACHE_SLOTS, 0);

/// Per-CPU scratch space for the large structures of the slow paths: the BPF stack is
/// 512 bytes and the inlined pipeline would not fit. Not pinned: it holds no state.
#[repr(C)]
pub struct Scratch {
    /// The packet's flow key (forward or reverse table).
    pub key: FlowKey,
    pub rev_key: FlowKey,
    pub rev: RevEntry,
    pub fwd: FwdEntry,
    pub fib: bpf_fib_lookup,
}

#[map(name = "SCRATCH")]
pub static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);
