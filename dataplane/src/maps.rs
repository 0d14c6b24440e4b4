//! Typed access to the pinned maps: the daemon's writes, the operator's reads.
//!
//! `Maps` can come from a freshly loaded program or straight from the pin directory, so the
//! `eplink` CLI reads the dataplane's real state even while the daemon is down.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
    path::Path,
};

use aya::maps::{Array, HashMap, Map, MapData, MapError, PerCpuArray, PerCpuValues};
use aya::Ebpf;
use eplink_abi::{
    self as abi, addr_v4, CacheSlot, EniKey, EniStats, FlowKey, FwdEntry, IfaceInfo, IfaceKey, Outcome, RevEntry, SnatPool,
    ZoneConn, OUTCOME_COUNT, SNAT_POOL_SIZE,
};

use crate::{Error, Result};

/// Every map of the program, typed.
pub struct Maps {
    /// Untagged interfaces by ifindex; see `set_iface` for which map holds which interface.
    pub ifaces: Array<MapData, IfaceInfo>,
    pub ifaces_ext: HashMap<MapData, IfaceKey, IfaceInfo>,
    pub enis: HashMap<MapData, EniKey, u32>,
    pub zone_conns: Array<MapData, ZoneConn>,
    pub snat_pools: Array<MapData, SnatPool>,
    pub ct_fwd: HashMap<MapData, FlowKey, FwdEntry>,
    pub ct_rev: HashMap<MapData, FlowKey, RevEntry>,
    pub buckets: Array<MapData, u64>,
    pub eni_stats: PerCpuArray<MapData, EniStats>,
    pub global_stats: PerCpuArray<MapData, u64>,
    pub flow_cache: PerCpuArray<MapData, CacheSlot>,
    pub flow_cache_epoch: Array<MapData, u32>,
    pub flow_cache_keygen: Array<MapData, u32>,
}

/// One tracked flow, both directions joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub key: FlowKey,
    pub fwd: FwdEntry,
    /// The reverse entry, if it still exists.
    pub rev: Option<RevEntry>,
}

fn map_err(map: &'static str) -> impl Fn(MapError) -> Error {
    move |source| Error::Map { map, source }
}

fn typed<T: TryFrom<Map, Error = MapError>>(map: Result<Map>, name: &'static str) -> Result<T> {
    T::try_from(map?).map_err(map_err(name))
}

/// Maps an IPv4 address to the ABI's 16-byte form.
#[must_use]
pub fn v4(a: Ipv4Addr) -> abi::Addr {
    addr_v4(a.octets())
}

/// The IPv4 address in an ABI address.
#[must_use]
pub fn to_v4(a: &abi::Addr) -> Ipv4Addr {
    Ipv4Addr::new(a[0], a[1], a[2], a[3])
}

impl Maps {
    /// Takes the maps out of a loaded object.
    pub(crate) fn take(ebpf: &mut Ebpf) -> Result<Self> {
        Self::build(|name| {
            ebpf.take_map(name).ok_or_else(|| Error::Map { map: name, source: MapError::InvalidName { name: name.into() } })
        })
    }

    /// Opens the maps pinned under `pin_dir`, without loading any program. Errors say which
    /// map and why (missing pin, no permission, ...).
    pub fn open_pinned(pin_dir: &Path) -> Result<Self> {
        Self::build(|name| {
            let path = pin_dir.join(name);
            let md = MapData::from_pin(&path).map_err(|e| Error::Pin { path: path.clone(), reason: e.to_string() })?;
            Map::from_map_data(md).map_err(map_err(name))
        })
    }

    fn build(mut get: impl FnMut(&'static str) -> Result<Map>) -> Result<Self> {
        Ok(Maps {
            ifaces: typed(get(abi::MAP_IFACES), abi::MAP_IFACES)?,
            ifaces_ext: typed(get(abi::MAP_IFACES_EXT), abi::MAP_IFACES_EXT)?,
            enis: typed(get(abi::MAP_ENIS), abi::MAP_ENIS)?,
            zone_conns: typed(get(abi::MAP_ZONE_CONNS), abi::MAP_ZONE_CONNS)?,
            snat_pools: typed(get(abi::MAP_SNAT_POOLS), abi::MAP_SNAT_POOLS)?,
            ct_fwd: typed(get(abi::MAP_CT_FWD), abi::MAP_CT_FWD)?,
            ct_rev: typed(get(abi::MAP_CT_REV), abi::MAP_CT_REV)?,
            buckets: typed(get(abi::MAP_BUCKETS), abi::MAP_BUCKETS)?,
            eni_stats: typed(get(abi::MAP_ENI_STATS), abi::MAP_ENI_STATS)?,
            global_stats: typed(get(abi::MAP_GLOBAL_STATS), abi::MAP_GLOBAL_STATS)?,
            flow_cache: typed(get(abi::MAP_FLOW_CACHE), abi::MAP_FLOW_CACHE)?,
            flow_cache_epoch: typed(get(abi::MAP_FLOW_CACHE_EPOCH), abi::MAP_FLOW_CACHE_EPOCH)?,
            flow_cache_keygen: typed(get(abi::MAP_FLOW_CACHE_KEYGEN), abi::MAP_FLOW_CACHE_KEYGEN)?,
        })
    }

    /// Declares a consumer-facing interface (and VLAN, 0 = untagged) of VPC `vpc`, whose
    /// traffic to services is routed as if it left through `fib_ifindex`.
    pub fn set_consumer_iface(&mut self, ifindex: u32, vlan: u16, vpc: u32, fib_ifindex: u32) -> Result<()> {
        let info = IfaceInfo { role: abi::ROLE_CONSUMER, vpc, fib_ifindex, _pad: 0 };
        self.set_iface(IfaceKey { ifindex, vlan: u32::from(vlan) }, &info)
    }

    /// Declares a provider-facing interface.
    pub fn set_provider_iface(&mut self, ifindex: u32) -> Result<()> {
        let info = IfaceInfo { role: abi::ROLE_PROVIDER, vpc: 0, fib_ifindex: 0, _pad: 0 };
        self.set_iface(IfaceKey { ifindex, vlan: 0 }, &info)
    }

    /// Writes an interface: untagged ones with a small ifindex into the `IFACES` array (the
    /// program's fast lookup), the others into `IFACES_EXT`.
    pub fn set_iface(&mut self, key: IfaceKey, info: &IfaceInfo) -> Result<()> {
        if key.in_array() {
            self.ifaces.set(key.ifindex, info, 0).map_err(map_err(abi::MAP_IFACES))
        } else {
            self.ifaces_ext.insert(key, info, 0).map_err(map_err(abi::MAP_IFACES_EXT))
        }
    }

    /// Forgets an interface (and VLAN).
    pub fn remove_iface(&mut self, ifindex: u32, vlan: u16) -> Result<()> {
        let key = IfaceKey { ifindex, vlan: u32::from(vlan) };
        if key.in_array() {
            self.ifaces.set(ifindex, IfaceInfo::default(), 0).map_err(map_err(abi::MAP_IFACES))?;
            // Not where this program version puts it, but `served_ifaces` lists it if some
            // other writer did: remove it there too.
            match self.ifaces_ext.remove(&key) {
                Err(MapError::SyscallError(e)) if e.io_error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                r => r.map_err(map_err(abi::MAP_IFACES_EXT)),
            }
        } else {
            self.ifaces_ext.remove(&key).map_err(map_err(abi::MAP_IFACES_EXT))
        }
    }

    /// Every interface the program serves, from both maps.
    pub fn served_ifaces(&self) -> Result<Vec<(IfaceKey, IfaceInfo)>> {
        let mut all = Vec::new();
        for (ifindex, info) in (0..).zip(self.ifaces.iter()) {
            let info = info.map_err(map_err(abi::MAP_IFACES))?;
            if info.role != 0 {
                all.push((IfaceKey { ifindex, vlan: 0 }, info));
            }
        }
        for entry in &self.ifaces_ext {
            all.push(entry.map_err(map_err(abi::MAP_IFACES_EXT))?);
        }
        Ok(all)
    }

    fn eni_key(vpc: u32, addr: IpAddr) -> EniKey {
        match addr {
            IpAddr::V4(a) => EniKey { vpc, family: abi::FAMILY_V4, _pad: [0; 3], addr: v4(a) },
            IpAddr::V6(a) => EniKey { vpc, family: abi::FAMILY_V6, _pad: [0; 3], addr: a.octets() },
        }
    }

    /// Publishes an ENI address of a VPC as ENI `index`. Write its zone connection first.
    pub fn set_eni(&mut self, vpc: u32, addr: IpAddr, index: u32) -> Result<()> {
        self.enis.insert(Self::eni_key(vpc, addr), index, 0).map_err(map_err(abi::MAP_ENIS))
    }

    /// Withdraws an ENI address.
    pub fn remove_eni(&mut self, vpc: u32, addr: IpAddr) -> Result<()> {
        self.enis.remove(&Self::eni_key(vpc, addr)).map_err(map_err(abi::MAP_ENIS))
    }

    /// Writes the zone connection of ENI `index`.
    pub fn set_zone_conn(&mut self, index: u32, zc: &ZoneConn) -> Result<()> {
        self.zone_conns.set(index, zc, 0).map_err(map_err(abi::MAP_ZONE_CONNS))
    }

    /// Reads the zone connection of ENI `index`.
    pub fn zone_conn(&self, index: u32) -> Result<ZoneConn> {
        self.zone_conns.get(&index, 0).map_err(map_err(abi::MAP_ZONE_CONNS))
    }

    /// Sets the SNAT pool of zone `zone` (at most `SNAT_POOL_SIZE` IPv4 addresses).
    pub fn set_snat_pool(&mut self, zone: u32, addrs: &[Ipv4Addr]) -> Result<()> {
        if addrs.len() > SNAT_POOL_SIZE {
            #[expect(clippy::cast_possible_truncation, reason = "error report only")]
            return Err(Error::OutOfRange { what: "SNAT pool size", index: addrs.len() as u32, capacity: SNAT_POOL_SIZE as u32 });
        }
        let mut pool = SnatPool { family: abi::FAMILY_V4, ..SnatPool::default() };
        for (slot, a) in pool.addrs.iter_mut().zip(addrs) {
            *slot = v4(*a);
        }
        #[expect(clippy::cast_possible_truncation, reason = "checked against SNAT_POOL_SIZE above")]
        {
            pool.count = addrs.len() as u32;
        }
        self.snat_pools.set(zone, pool, 0).map_err(map_err(abi::MAP_SNAT_POOLS))
    }

    /// Every outcome's packet count, summed over CPUs.
    pub fn global_stats(&self) -> Result<[u64; OUTCOME_COUNT]> {
        let mut out = [0u64; OUTCOME_COUNT];
        for o in Outcome::ALL {
            let per_cpu: PerCpuValues<u64> =
                self.global_stats.get(&(o as u32), 0).map_err(map_err(abi::MAP_GLOBAL_STATS))?;
            out[o as usize] = per_cpu.iter().sum();
        }
        Ok(out)
    }

    /// The counters of ENI `index`, summed over CPUs.
    pub fn eni_stats(&self, index: u32) -> Result<EniStats> {
        let per_cpu = self.eni_stats.get(&index, 0).map_err(map_err(abi::MAP_ENI_STATS))?;
        let mut sum = EniStats::default();
        for s in per_cpu.iter() {
            sum.accumulate(s);
        }
        Ok(sum)
    }

    /// Every forward flow, joined with its reverse entry.
    pub fn flows(&self) -> Result<Vec<Flow>> {
        let mut out = Vec::new();
        for item in &self.ct_fwd {
            let (key, fwd) = item.map_err(map_err(abi::MAP_CT_FWD))?;
            let rkey = Self::reverse_key(&key, &fwd);
            let rev = self.ct_rev.get(&rkey, 0).ok();
            out.push(Flow { key, fwd, rev });
        }
        Ok(out)
    }

    /// The reverse-table key of a forward flow.
    #[must_use]
    pub fn reverse_key(key: &FlowKey, fwd: &FwdEntry) -> FlowKey {
        FlowKey::new(0, key.proto(), (to_v4(&fwd.nat_dst).octets(), key.dport_be), (to_v4(&fwd.nat_src).octets(), fwd.nat_sport_be))
    }

    /// Deletes both entries of a flow (either may already be gone). The flow cache is left
    /// alone: right for idle flows (the sweeper's), whose slots expired long ago; otherwise
    /// call `invalidate_flow_cache` after the deletions, as `flush_flows` does.
    pub fn remove_flow(&mut self, f: &Flow) {
        self.ct_rev.remove(&Self::reverse_key(&f.key, &f.fwd)).ok();
        self.ct_fwd.remove(&f.key).ok();
    }

    /// The flow cache's current epoch (0: the cache is off).
    pub fn flow_cache_epoch(&self) -> Result<u32> {
        self.flow_cache_epoch.get(&0, 0).map_err(map_err(abi::MAP_FLOW_CACHE_EPOCH))
    }

    /// Starts a new flow cache epoch, higher than any used before (wrapping past 0), and
    /// makes it current.
    fn next_epoch(&mut self) -> Result<()> {
        let last = self.flow_cache_epoch.get(&1, 0).map_err(map_err(abi::MAP_FLOW_CACHE_EPOCH))?;
        let next = if last == u32::MAX { 1 } else { last + 1 };
        // `last` first: whatever happens next, no epoch is ever handed out twice.
        self.flow_cache_epoch.set(1, next, 0).map_err(map_err(abi::MAP_FLOW_CACHE_EPOCH))?;
        self.flow_cache_epoch.set(0, next, 0).map_err(map_err(abi::MAP_FLOW_CACHE_EPOCH))
    }

    /// Turns the program's flow cache on or off. Turning it on keeps a running epoch or
    /// starts a new one, so slots filled before it was turned off never serve again.
    pub fn set_flow_cache(&mut self, on: bool) -> Result<()> {
        match (on, self.flow_cache_epoch()?) {
            (true, 0) => self.next_epoch(),
            (false, e) if e != 0 => self.flow_cache_epoch.set(0, 0, 0).map_err(map_err(abi::MAP_FLOW_CACHE_EPOCH)),
            _ => Ok(()),
        }
    }

    /// Invalidates every flow cache slot on every CPU (a new epoch), so deleted flows stop
    /// forwarding at once. Deleting only idle flows needs none of this: a slot serves at
    /// most `flow::CACHE_JIFFIES` after the flow's last table lookup.
    pub fn invalidate_flow_cache(&mut self) -> Result<()> {
        if self.flow_cache_epoch()? == 0 { Ok(()) } else { self.next_epoch() }
    }

    /// Deletes every flow of the given ENIs in one pass over each table, including reverse
    /// entries whose forward half the LRU already evicted, and invalidates the flow cache;
    /// returns how many flows went.
    pub fn flush_flows(&mut self, enis: &BTreeSet<u32>) -> Result<usize> {
        let doomed: Vec<Flow> = self.flows()?.into_iter().filter(|f| enis.contains(&f.fwd.eni)).collect();
        for f in &doomed {
            self.remove_flow(f);
        }
        let orphans: Vec<FlowKey> =
            self.ct_rev.iter().filter_map(std::result::Result::ok).filter(|(_, r)| enis.contains(&r.eni)).map(|(k, _)| k).collect();
        for k in &orphans {
            self.ct_rev.remove(k).ok();
        }
        // Even if the tables held none: the LRU may have evicted a flow a slot still holds.
        if !enis.is_empty() {
            self.invalidate_flow_cache()?;
        }
        Ok(doomed.len())
    }
}
