//! Operators' views of the pinned dataplane maps: maps and fill, ENIs, flows, counters, rates.
//!
//! Everything here reads the maps pinned under the pin directory (never the daemon), so it
//! works while `eplinkd` is down. Rows are plain serialisable data; [`render`] turns them into
//! aligned tables, [`metrics`] into Prometheus text, and [`cli`] wires both to `eplink dp …`.
//! Names (ENI, endpoint, zone, resource ids) come from the committed connection table when the
//! caller passes its [`DataplaneZone`] view; without it rows carry indexes only.

pub mod cli;
pub mod metrics;
pub mod names;
pub mod render;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use aya::maps::{IterableMap, MapType};
use eplink_dataplane::{
    to_v4, Clock, Flow, Maps,
    abi::{
        self, Addr, CacheSlot, EniStats, FAMILY_V6, OUTCOME_COUNT, Outcome, ZONE_CONNECTED, ZONE_DISCONNECTED, ZoneConn,
        bucket::TICKS_PER_NS,
        flow::{PROTO_TCP, PROTO_UDP, SEEN_FIN, SEEN_RST, SEEN_SYN},
    },
};
use serde::Serialize;

pub use metrics::metrics_text;

use crate::model::DataplaneZone;

/// Failures while reading the dataplane.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// No map of the dataplane is pinned there.
    #[error("no eplink dataplane pinned at {0}; is eplinkd running, or was it ever started with this pin dir?")]
    NotPinned(PathBuf),
    /// Some maps are pinned, others are missing (a half-removed or foreign pin directory).
    #[error("the eplink dataplane pinned at {dir} is incomplete: missing {missing}")]
    Incomplete {
        /// The pin directory.
        dir: PathBuf,
        /// The missing map names, comma-separated.
        missing: String,
    },
    /// Opening or reading a map failed (often: not root, or an ABI mismatch after an upgrade).
    #[error("{0} (reading pinned BPF maps needs root or CAP_BPF)")]
    Dataplane(#[from] eplink_dataplane::Error),
    /// A map's metadata could not be read.
    #[error("map {map}: {source}")]
    Map {
        /// Map name.
        map: &'static str,
        /// The error.
        source: aya::maps::MapError,
    },
    /// A filter needs names, and no connection table was given.
    #[error("--{0} filters by name and needs the connection table: pass --inventory (or set EPLINK_INVENTORY)")]
    NeedsNames(&'static str),
}

type Result<T, E = InspectError> = std::result::Result<T, E>;

/// Opens the maps pinned under `pin_dir`, with a clear error when there are none.
pub fn open(pin_dir: &Path) -> Result<Maps> {
    let missing: Vec<&str> = abi::ALL_MAPS.iter().copied().filter(|m| !pin_dir.join(m).exists()).collect();
    if missing.len() == abi::ALL_MAPS.len() {
        return Err(InspectError::NotPinned(pin_dir.to_owned()));
    }
    if !missing.is_empty() {
        return Err(InspectError::Incomplete { dir: pin_dir.to_owned(), missing: missing.join(", ") });
    }
    Ok(Maps::open_pinned(pin_dir)?)
}

/// An ABI address as an `IpAddr`, by family tag.
#[must_use]
pub fn ip_of(family: u8, a: &Addr) -> IpAddr {
    if family == FAMILY_V6 { IpAddr::V6(Ipv6Addr::from(*a)) } else { IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])) }
}


/// Q16 bucket ticks per byte at 1 bit/s: `8 bit × 10^9 ns/s × TICKS_PER_NS × 2^16`.
const COST_NUMERATOR: u128 = 8 * 1_000_000_000 * TICKS_PER_NS as u128 * 65_536;

/// The bandwidth limit, in Mbps (10^6 bit/s), that `bucket::Limit::from_mbps` turned into
/// this per-byte cost; `None` for 0 (unlimited). Rounded to the nearest Mbps, which inverts
/// `from_mbps` exactly for every limit the API accepts.
#[must_use]
pub fn mbps_from_cost(cost_per_byte_q16: u64) -> Option<u64> {
    if cost_per_byte_q16 == 0 {
        return None;
    }
    let denom = u128::from(cost_per_byte_q16) * 1_000_000;
    u64::try_from((COST_NUMERATOR + denom / 2) / denom).ok()
}

/// The dataplane's zone-connection state, by name.
#[must_use]
pub fn zone_state_name(state: u32) -> String {
    match state {
        ZONE_CONNECTED => "connected".into(),
        ZONE_DISCONNECTED => "disconnected".into(),
        other => format!("unknown({other})"),
    }
}

/// Name of an IP protocol number.
#[must_use]
pub fn proto_name(proto: u8) -> String {
    match proto {
        PROTO_TCP => "tcp".into(),
        PROTO_UDP => "udp".into(),
        p => format!("proto{p}"),
    }
}

/// The `SEEN_*` bits as words, e.g. `syn,fin`; `-` when none.
#[must_use]
pub fn flags_text(flags: u32) -> String {
    let names: Vec<&str> = [(SEEN_SYN, "syn"), (SEEN_FIN, "fin"), (SEEN_RST, "rst")]
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() { "-".into() } else { names.join(",") }
}

/// A connection-tracking state in conntrack's words, from the flags each direction saw.
///
/// TCP: `reset` (a RST either way), `closing` (FIN both ways), `fin_wait` (FIN one way),
/// `established` (SYN both ways, or the flow was picked up without a SYN), `syn_sent` (only
/// the client's SYN). UDP and others: `active` while the reverse entry exists, else `orphan`.
#[must_use]
pub fn flow_state(proto: u8, fwd_flags: u32, rev_flags: Option<u32>) -> &'static str {
    let Some(rev) = rev_flags else { return "orphan" };
    if proto != PROTO_TCP {
        return "active";
    }
    let both = fwd_flags | rev;
    if both & SEEN_RST != 0 {
        "reset"
    } else if fwd_flags & rev & SEEN_FIN != 0 {
        "closing"
    } else if both & SEEN_FIN != 0 {
        "fin_wait"
    } else if fwd_flags & SEEN_SYN != 0 && rev & SEEN_SYN == 0 {
        "syn_sent"
    } else {
        "established"
    }
}

/// Kernel map type in bpftool's words.
#[must_use]
pub fn map_type_name(t: MapType) -> String {
    match t {
        MapType::Hash => "hash".into(),
        MapType::LruHash => "lru_hash".into(),
        MapType::Array => "array".into(),
        MapType::PerCpuArray => "percpu_array".into(),
        MapType::PerCpuHash => "percpu_hash".into(),
        MapType::LruPerCpuHash => "lru_percpu_hash".into(),
        MapType::LpmTrie => "lpm_trie".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// One pinned map with its size and fill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapRow {
    /// Map name (ABI).
    pub name: &'static str,
    /// Kernel map type, bpftool's spelling.
    #[serde(rename = "type")]
    pub kind: String,
    /// Kernel map id (changes when the daemon creates the maps anew).
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// Entries in use: keys of a hash map; for arrays the slots whose value is not all
    /// zeroes (on any CPU, for per-CPU arrays), since every array slot always exists.
    pub entries: u64,
    /// `entries / max_entries`, in percent.
    pub fill_pct: f64,
    /// What `entries` counts for this map.
    pub counts: &'static str,
}

fn info_of<K: aya::Pod, V, M: IterableMap<K, V>>(name: &'static str, m: &M) -> Result<(String, aya::maps::MapInfo)> {
    let info = m.map().info().map_err(|source| InspectError::Map { map: name, source })?;
    let kind = info.map_type().map_or_else(|_| "unknown".to_owned(), map_type_name);
    Ok((kind, info))
}

fn nonzero<T: Copy>(v: &T) -> bool {
    // SAFETY: map values are `aya::Pod`: plain integers and byte arrays, no padding, so
    // reading their bytes is defined.
    let bytes = unsafe { std::slice::from_raw_parts(std::ptr::from_ref(v).cast::<u8>(), size_of::<T>()) };
    bytes.iter().any(|b| *b != 0)
}

fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> InspectError {
    move |source| InspectError::Map { map, source }
}

fn count_ok<T>(map: &'static str, it: impl Iterator<Item = Result<T, aya::maps::MapError>>, keep: impl Fn(&T) -> bool) -> Result<u64> {
    let mut n = 0;
    for v in it {
        if keep(&v.map_err(map_err(map))?) {
            n += 1;
        }
    }
    Ok(n)
}

/// Every map of `ALL_MAPS` with its type, sizes, capacity and fill.
pub fn maps_view(maps: &Maps) -> Result<Vec<MapRow>> {
    map_rows(maps, true)
}

/// Only the hash maps (the ones that can fill up): cheap enough for every metrics scrape,
/// where counting the non-zero slots of the ENI-indexed arrays would cost one syscall per slot.
pub fn hash_maps_view(maps: &Maps) -> Result<Vec<MapRow>> {
    map_rows(maps, false)
}

fn map_rows(maps: &Maps, arrays: bool) -> Result<Vec<MapRow>> {
    use abi::{
        MAP_BUCKETS as BK, MAP_CT_FWD as CF, MAP_CT_REV as CR, MAP_ENI_STATS as ES, MAP_ENIS as EN,
        MAP_FLOW_CACHE as FC, MAP_FLOW_CACHE_EPOCH as FE, MAP_FLOW_CACHE_KEYGEN as FK, MAP_GLOBAL_STATS as GS, MAP_IFACES as IF, MAP_IFACES_EXT as IX,
        MAP_SNAT_POOLS as SP, MAP_ZONE_CONNS as ZC,
    };
    let keys = "keys";
    let slots = "non-zero slots";
    let cpu_slots = "slots non-zero on some CPU";
    let mut rows = vec![
        (IX, info_of(IX, &maps.ifaces_ext)?, count_ok(IX, maps.ifaces_ext.keys(), |_| true)?, keys),
        (EN, info_of(EN, &maps.enis)?, count_ok(EN, maps.enis.keys(), |_| true)?, keys),
        (CF, info_of(CF, &maps.ct_fwd)?, count_ok(CF, maps.ct_fwd.keys(), |_| true)?, keys),
        (CR, info_of(CR, &maps.ct_rev)?, count_ok(CR, maps.ct_rev.keys(), |_| true)?, keys),
    ];
    if arrays {
        rows.extend([
            (IF, info_of(IF, &maps.ifaces)?, count_ok(IF, maps.ifaces.iter(), |i| i.role != 0)?, slots),
            (ZC, info_of(ZC, &maps.zone_conns)?, count_ok(ZC, maps.zone_conns.iter(), nonzero)?, slots),
            (SP, info_of(SP, &maps.snat_pools)?, count_ok(SP, maps.snat_pools.iter(), nonzero)?, slots),
            (BK, info_of(BK, &maps.buckets)?, count_ok(BK, maps.buckets.iter(), |v| *v != 0)?, slots),
            (ES, info_of(ES, &maps.eni_stats)?, count_ok(ES, maps.eni_stats.iter(), |v| v.iter().any(nonzero))?, cpu_slots),
            (GS, info_of(GS, &maps.global_stats)?, count_ok(GS, maps.global_stats.iter(), |v| v.iter().any(|c| *c != 0))?, cpu_slots),
            (FC, info_of(FC, &maps.flow_cache)?, count_ok(FC, maps.flow_cache.iter(), |v| v.iter().any(|s| *s != CacheSlot::default()))?, cpu_slots),
            (FE, info_of(FE, &maps.flow_cache_epoch)?, count_ok(FE, maps.flow_cache_epoch.iter(), |v| *v != 0)?, slots),
            (FK, info_of(FK, &maps.flow_cache_keygen)?, count_ok(FK, maps.flow_cache_keygen.iter(), |v| *v != 0)?, slots),
        ]);
        // Keep `ALL_MAPS` order for the table.
        let order = |n: &str| abi::ALL_MAPS.iter().position(|m| *m == n).unwrap_or(usize::MAX);
        rows.sort_by_key(|r| order(r.0));
    }
    Ok(rows
        .into_iter()
        .map(|(name, (kind, info), entries, counts)| MapRow {
            name,
            kind,
            id: info.id(),
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
            entries,
            fill_pct: fill_pct(entries, info.max_entries()),
            counts,
        })
        .collect())
}

/// `entries` as a percentage of `max`, to two decimals.
#[must_use]
pub fn fill_pct(entries: u64, max: u32) -> f64 {
    if max == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "a percentage for display")]
    let pct = entries as f64 * 100.0 / f64::from(max);
    (pct * 100.0).round() / 100.0
}

/// Names of one ENI from the connection table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    /// `eni-…`.
    pub eni_id: Option<String>,
    /// `ep-…`.
    pub endpoint_id: Option<String>,
    /// `epsrv-…`.
    pub service_id: Option<String>,
    /// Zone id.
    pub zone: Option<String>,
    /// `vpc-…`.
    pub vpc_id: Option<String>,
    /// Zone connection state in the table (API words).
    pub state: Option<String>,
    /// The allocated resource.
    pub resource_id: Option<String>,
}

/// Looks ENI indexes up in the connection table's view.
#[derive(Debug, Default)]
pub struct Directory {
    by_index: BTreeMap<u32, Names>,
    /// Whether a view was given at all.
    pub available: bool,
}

impl Directory {
    /// Indexes `view` by ENI index; `None` means names are unavailable.
    #[must_use]
    pub fn new(view: Option<&[DataplaneZone]>) -> Directory {
        let Some(view) = view else { return Directory::default() };
        let by_index = view
            .iter()
            .map(|z| {
                let state = serde_json::to_value(z.state).ok().and_then(|v| v.as_str().map(str::to_owned));
                (z.eni_index, Names {
                    eni_id: Some(z.eni_id.clone()),
                    endpoint_id: Some(z.endpoint_id.clone()),
                    service_id: Some(z.service_id.clone()),
                    zone: Some(z.zone.clone()),
                    vpc_id: Some(z.vpc_id.clone()),
                    state,
                    resource_id: z.resource_id.clone(),
                })
            })
            .collect();
        Directory { by_index, available: true }
    }

    /// The names of ENI `index` (all `None` if unknown).
    #[must_use]
    pub fn names(&self, index: u32) -> Names {
        self.by_index.get(&index).cloned().unwrap_or_default()
    }
}

/// Packet and byte counters of one ENI, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Consumer → service packets (forwarded, or rewritten and handed to the kernel).
    pub fwd_packets: u64,
    /// Consumer → service frame bytes.
    pub fwd_bytes: u64,
    /// Service → consumer packets.
    pub rev_packets: u64,
    /// Service → consumer frame bytes.
    pub rev_bytes: u64,
    /// Packets dropped (every drop reason together).
    pub drops: u64,
}

impl From<&EniStats> for Traffic {
    fn from(s: &EniStats) -> Traffic {
        let drops = Outcome::ALL.iter().filter(|o| o.is_drop()).map(|o| s.drops[*o as usize]).sum();
        Traffic { fwd_packets: s.fwd_packets, fwd_bytes: s.fwd_bytes, rev_packets: s.rev_packets, rev_bytes: s.rev_bytes, drops }
    }
}

/// One published ENI address, its zone connection and its counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EniRow {
    /// ENI index (key into `ZONE_CONNS`, `ENI_STATS`, `BUCKETS`).
    pub eni_index: u32,
    /// Names from the connection table.
    #[serde(flatten)]
    pub names: Names,
    /// The consumer VPC's dataplane index (scope of the address).
    pub vpc_index: u32,
    /// The ENI address.
    pub address: IpAddr,
    /// Zone connection state in the dataplane: `connected`, `disconnected`.
    pub dp_state: String,
    /// Generation of the ENI index.
    pub generation: u32,
    /// Zone index (key into `SNAT_POOLS`).
    pub zone_index: u32,
    /// The VIP new flows go to; `None` when no resource is written.
    pub vip: Option<IpAddr>,
    /// Bandwidth limit per direction, Mbps; `None` = unlimited.
    pub bandwidth_mbps: Option<u64>,
    /// Tracked flows (forward entries) of this ENI.
    pub flows: u64,
    /// Counters.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// Per-ENI forward-flow counts.
#[must_use]
pub fn flow_counts(flows: &[Flow]) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for f in flows {
        *out.entry(f.fwd.eni).or_insert(0) += 1;
    }
    out
}

/// Every `ENIS` entry, ordered by ENI index.
pub fn enis_view(maps: &Maps, dir: &Directory) -> Result<Vec<EniRow>> {
    let flows = maps.flows()?;
    let counts = flow_counts(&flows);
    let mut rows = Vec::new();
    for item in &maps.enis {
        let (key, index) = item.map_err(map_err(abi::MAP_ENIS))?;
        let zc: ZoneConn = maps.zone_conn(index)?;
        let stats = maps.eni_stats(index)?;
        let vip_set = zc.vip.iter().any(|b| *b != 0);
        rows.push(EniRow {
            eni_index: index,
            names: dir.names(index),
            vpc_index: key.vpc,
            address: ip_of(key.family, &key.addr),
            dp_state: zone_state_name(zc.state),
            generation: zc.generation,
            zone_index: zc.zone,
            vip: vip_set.then(|| ip_of(zc.family, &zc.vip)),
            bandwidth_mbps: mbps_from_cost(zc.cost_per_byte_q16),
            flows: counts.get(&index).copied().unwrap_or(0),
            traffic: Traffic::from(&stats),
        });
    }
    rows.sort_by_key(|r| (r.eni_index, r.vpc_index, r.address));
    Ok(rows)
}

/// One tracked flow, both directions joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRow {
    /// `tcp`, `udp`.
    pub proto: String,
    /// The consumer VPC's dataplane index.
    pub vpc_index: u32,
    /// Consumer host address and port.
    pub client: SocketAddr,
    /// ENI address and service port, as the consumer addressed it.
    pub eni: SocketAddr,
    /// SNAT address and port the service sees.
    pub snat: SocketAddr,
    /// The VIP and port the flow is bound to.
    pub vip: SocketAddr,
    /// ENI index.
    pub eni_index: u32,
    /// Names of the ENI from the connection table.
    #[serde(flatten)]
    pub names: Names,
    /// Conntrack-style state (see [`flow_state`]).
    pub state: &'static str,
    /// Flags the consumer side sent (`syn,fin,rst`).
    pub fwd_flags: String,
    /// Flags the service side sent; `None` when the reverse entry is gone.
    pub rev_flags: Option<String>,
    /// Seconds since the last packet either way (refreshed at most once a second).
    pub idle_s: u64,
    /// ENI generation the flow was created under.
    pub generation: u32,
}

/// Flow filters; every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    /// Endpoint id.
    pub endpoint: Option<String>,
    /// Zone id.
    pub zone: Option<String>,
    /// ENI id (`eni-…`) or ENI index.
    pub eni: Option<String>,
    /// Any address of the flow: client, ENI, SNAT or VIP.
    pub addr: Option<IpAddr>,
    /// Any port of the flow: client, service or SNAT port.
    pub port: Option<u16>,
}

impl FlowFilter {
    /// Whether this filter needs names from the connection table.
    pub fn check(&self, dir: &Directory) -> Result<()> {
        if dir.available {
            return Ok(());
        }
        if self.endpoint.is_some() {
            return Err(InspectError::NeedsNames("endpoint"));
        }
        if self.zone.is_some() {
            return Err(InspectError::NeedsNames("zone"));
        }
        if self.eni.as_deref().is_some_and(|e| e.parse::<u32>().is_err()) {
            return Err(InspectError::NeedsNames("eni"));
        }
        Ok(())
    }

    /// Whether `row` passes.
    #[must_use]
    pub fn matches(&self, row: &FlowRow) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.as_ref().is_none_or(|w| have.as_ref() == Some(w));
        let eni_ok = self.eni.as_ref().is_none_or(|e| match e.parse::<u32>() {
            Ok(i) => i == row.eni_index,
            Err(_) => row.names.eni_id.as_ref() == Some(e),
        });
        let addrs = [row.client, row.eni, row.snat, row.vip];
        eq(&self.endpoint, &row.names.endpoint_id)
            && eq(&self.zone, &row.names.zone)
            && eni_ok
            && self.addr.is_none_or(|a| addrs.iter().any(|s| s.ip() == a))
            && self.port.is_none_or(|p| addrs.iter().any(|s| s.port() == p))
    }
}

/// A flow as a row, at jiffy `now` of `clock`.
#[must_use]
pub fn flow_row(f: &Flow, dir: &Directory, clock: &Clock, now: u64) -> FlowRow {
    let k = &f.key;
    // Flow tables are IPv4 (see `FlowKey`).
    let sock = |a: [u8; 4], port_be: u16| SocketAddr::new(IpAddr::V4(a.into()), u16::from_be(port_be));
    let last = f.rev.map_or(f.fwd.last_seen, |r| r.last_seen.max(f.fwd.last_seen));
    FlowRow {
        proto: proto_name(k.proto()),
        vpc_index: k.scope(),
        client: sock(k.src, k.sport_be),
        eni: sock(k.dst, k.dport_be),
        snat: sock(to_v4(&f.fwd.nat_src).octets(), f.fwd.nat_sport_be),
        vip: sock(to_v4(&f.fwd.nat_dst).octets(), k.dport_be),
        eni_index: f.fwd.eni,
        names: dir.names(f.fwd.eni),
        state: flow_state(k.proto(), f.fwd.flags, f.rev.map(|r| r.flags)),
        fwd_flags: flags_text(f.fwd.flags),
        rev_flags: f.rev.map(|r| flags_text(r.flags)),
        idle_s: clock.secs_between(last, now),
        generation: f.fwd.generation,
    }
}

/// The flows that pass `filter`, ordered by ENI, VPC and client; and the total tracked.
pub fn flows_view(maps: &Maps, clock: &Clock, dir: &Directory, filter: &FlowFilter) -> Result<(Vec<FlowRow>, usize)> {
    filter.check(dir)?;
    let flows = maps.flows()?;
    let now = clock.now()?;
    let mut rows: Vec<FlowRow> = flows.iter().map(|f| flow_row(f, dir, clock, now)).filter(|r| filter.matches(r)).collect();
    rows.sort_by(|a, b| (a.eni_index, a.vpc_index, &a.proto, a.client, a.eni).cmp(&(b.eni_index, b.vpc_index, &b.proto, b.client, b.eni)));
    Ok((rows, flows.len()))
}

/// What the program did with a packet of an outcome.
#[must_use]
pub fn action_of(o: Outcome) -> &'static str {
    match o {
        Outcome::Forwarded | Outcome::Reversed => "redirect",
        Outcome::EchoAnswered => "tx",
        o if o.is_drop() => "drop",
        _ => "pass",
    }
}

/// One global outcome counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeRow {
    /// Outcome name (`forwarded`, `drop_rate_limited`, …).
    pub outcome: &'static str,
    /// Packets, summed over CPUs.
    pub packets: u64,
    /// `redirect`, `tx`, `pass` or `drop`.
    pub action: &'static str,
    /// Whether the packet was discarded.
    pub drop: bool,
}

/// A non-zero per-ENI counter of a non-traffic outcome (drops, and echo replies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EniOutcomeRow {
    /// ENI index.
    pub eni_index: u32,
    /// Names of the ENI.
    #[serde(flatten)]
    pub names: Names,
    /// Outcome name.
    pub outcome: &'static str,
    /// Packets.
    pub packets: u64,
    /// Whether the packets were discarded.
    pub drop: bool,
}

/// Global and per-ENI counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsView {
    /// Every outcome, in ABI order.
    pub global: Vec<OutcomeRow>,
    /// Non-zero per-ENI outcome counters of ENIs with stats, by ENI and outcome.
    pub per_eni: Vec<EniOutcomeRow>,
}

/// The counters of the given ENI indexes (those with any non-zero counter).
pub fn eni_stats_of(maps: &Maps, indexes: impl IntoIterator<Item = u32>) -> Result<BTreeMap<u32, EniStats>> {
    let mut out = BTreeMap::new();
    for i in indexes {
        let s = maps.eni_stats(i)?;
        if s != EniStats::default() {
            out.insert(i, s);
        }
    }
    Ok(out)
}

/// Per-CPU sums of every `ENI_STATS` slot that has counted anything.
pub fn all_eni_stats(maps: &Maps) -> Result<BTreeMap<u32, EniStats>> {
    let mut out = BTreeMap::new();
    for (i, v) in maps.eni_stats.iter().enumerate() {
        let v = v.map_err(map_err(abi::MAP_ENI_STATS))?;
        if v.iter().any(nonzero) {
            let mut sum = EniStats::default();
            for s in v.iter() {
                sum.accumulate(s);
            }
            out.insert(u32::try_from(i).unwrap_or(u32::MAX), sum);
        }
    }
    Ok(out)
}

/// Global outcome counters and per-ENI drop reasons.
pub fn stats_view(maps: &Maps, dir: &Directory) -> Result<StatsView> {
    let g = maps.global_stats()?;
    let global = Outcome::ALL
        .iter()
        .map(|o| OutcomeRow { outcome: o.name(), packets: g[*o as usize], action: action_of(*o), drop: o.is_drop() })
        .collect();
    let mut per_eni = Vec::new();
    for (idx, s) in all_eni_stats(maps)? {
        for o in Outcome::ALL {
            let n = s.drops[o as usize];
            if n != 0 {
                per_eni.push(EniOutcomeRow { eni_index: idx, names: dir.names(idx), outcome: o.name(), packets: n, drop: o.is_drop() });
            }
        }
    }
    Ok(StatsView { global, per_eni })
}

/// One ENI's rates over a sampling interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateRow {
    /// ENI index.
    pub eni_index: u32,
    /// Names of the ENI.
    #[serde(flatten)]
    pub names: Names,
    /// Consumer → service packets per second.
    pub fwd_pps: f64,
    /// Consumer → service bits per second (frame bytes × 8).
    pub fwd_bps: f64,
    /// Service → consumer packets per second.
    pub rev_pps: f64,
    /// Service → consumer bits per second.
    pub rev_bps: f64,
    /// Drops per second.
    pub drop_pps: f64,
}

/// Counters of the ENIs in `ENIS`, sampled once.
pub fn sample(maps: &Maps) -> Result<BTreeMap<u32, Traffic>> {
    let mut out = BTreeMap::new();
    for item in &maps.enis {
        let (_, index) = item.map_err(map_err(abi::MAP_ENIS))?;
        out.insert(index, Traffic::from(&maps.eni_stats(index)?));
    }
    Ok(out)
}

/// Rates between two samples `secs` apart, busiest (bits both ways) first. Counters that
/// went backwards (the maps were re-created) count from zero.
#[must_use]
pub fn rates(before: &BTreeMap<u32, Traffic>, after: &BTreeMap<u32, Traffic>, secs: f64, dir: &Directory) -> Vec<RateRow> {
    #[expect(clippy::cast_precision_loss, reason = "rates for display")]
    let rate = |a: u64, b: u64| if b >= a { (b - a) as f64 / secs } else { b as f64 / secs };
    let mut rows: Vec<RateRow> = after
        .iter()
        .map(|(idx, now)| {
            let was = before.get(idx).copied().unwrap_or_default();
            RateRow {
                eni_index: *idx,
                names: dir.names(*idx),
                fwd_pps: rate(was.fwd_packets, now.fwd_packets),
                fwd_bps: rate(was.fwd_bytes, now.fwd_bytes) * 8.0,
                rev_pps: rate(was.rev_packets, now.rev_packets),
                rev_bps: rate(was.rev_bytes, now.rev_bytes) * 8.0,
                drop_pps: rate(was.drops, now.drops),
            }
        })
        .collect();
    rows.sort_by(|a, b| (b.fwd_bps + b.rev_bps).total_cmp(&(a.fwd_bps + a.rev_bps)).then(a.eni_index.cmp(&b.eni_index)));
    rows
}

const _: () = assert!(OUTCOME_COUNT == Outcome::ALL.len());

#[cfg(test)]
mod tests;
