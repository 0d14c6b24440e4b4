//! The maps' desired contents, computed purely from the dataplane view of the committed
//! table and the inventory (no IO: interface indexes come in as a lookup table).

use std::collections::BTreeMap;
use std::net::IpAddr;

use eplink_dataplane::{
    abi::{bucket::Limit, EniKey, IfaceInfo, IfaceKey, SnatPool, ZoneConn, FAMILY_V4, ROLE_CONSUMER, ROLE_PROVIDER,
        SNAT_POOL_SIZE, ZONE_CONNECTED, ZONE_DISCONNECTED},
    v4,
};

use crate::{inventory::Inventory, model::DataplaneZone};

/// Interface name → ifindex on this host (interfaces that do not exist here are absent).
pub type IfIndexes = BTreeMap<String, u32>;

/// What the maps should hold.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Desired {
    pub ifaces: BTreeMap<IfaceKey, IfaceInfo>,
    pub snat_pools: BTreeMap<u32, SnatPool>,
    pub enis: BTreeMap<EniKey, u32>,
    pub zone_conns: BTreeMap<u32, ZoneConn>,
    /// ENI addresses to put on each consumer interface (so the kernel answers ARP).
    pub addresses: BTreeMap<String, Vec<IpAddr>>,
}

/// The dataplane's index of a VPC: its position in the inventory, from 1 (0 = provider).
#[must_use]
pub fn vpc_index(inv: &Inventory, vpc_id: &str) -> Option<u32> {
    inv.vpcs.iter().position(|v| v.id == vpc_id).and_then(|i| u32::try_from(i + 1).ok())
}

/// The dataplane's index of a zone: its position in the inventory (indexes `SNAT_POOLS`).
#[must_use]
pub fn zone_index(inv: &Inventory, zone: &str) -> Option<u32> {
    inv.zones.iter().position(|z| z.id == zone).and_then(|i| u32::try_from(i).ok())
}

/// Computes the desired map contents. ENIs whose VPC interface is not on this host are
/// left out (another gateway serves them).
#[must_use]
pub fn desired(view: &[DataplaneZone], inv: &Inventory, ifindexes: &IfIndexes) -> Desired {
    let mut d = Desired::default();
    for (i, vpc) in inv.vpcs.iter().enumerate() {
        let (Some(&ifindex), Ok(idx)) = (ifindexes.get(&vpc.gateway_interface), u32::try_from(i + 1)) else {
            continue;
        };
        // fib_ifindex 0: route as the packet's own ingress interface (no VRFs here).
        let info = IfaceInfo { role: ROLE_CONSUMER, vpc: idx, fib_ifindex: 0, _pad: 0 };
        d.ifaces.insert(IfaceKey { ifindex, vlan: 0 }, info);
    }
    for (i, zone) in inv.zones.iter().enumerate() {
        let Ok(idx) = u32::try_from(i) else { continue };
        if let Some(&ifindex) = ifindexes.get(&zone.gateway_interface) {
            d.ifaces.insert(IfaceKey { ifindex, vlan: 0 }, IfaceInfo { role: ROLE_PROVIDER, vpc: 0, fib_ifindex: 0, _pad: 0 });
        }
        let mut pool = SnatPool { family: FAMILY_V4, ..SnatPool::default() };
        for (slot, a) in pool.addrs.iter_mut().zip(zone.snat_pool.iter().take(SNAT_POOL_SIZE)) {
            *slot = v4(*a);
        }
        pool.count = u32::try_from(zone.snat_pool.len().min(SNAT_POOL_SIZE)).unwrap_or(0);
        d.snat_pools.insert(idx, pool);
    }
    for row in view {
        let (Some(vpc), Some(zone)) = (vpc_index(inv, &row.vpc_id), zone_index(inv, &row.zone)) else {
            continue;
        };
        if !ifindexes.contains_key(&row.vpc_interface) {
            continue;
        }
        let limit = Limit::from_mbps(row.bandwidth_mbps.map_or(0, u64::from));
        let connected = row.forwarding && row.vip.is_some();
        let zc = ZoneConn {
            state: if connected { ZONE_CONNECTED } else { ZONE_DISCONNECTED },
            // ENI indexes are never reused (the model persists them), so one generation suffices.
            generation: 1,
            zone,
            family: FAMILY_V4,
            _pad: [0; 3],
            vip: row.vip.map(v4).unwrap_or_default(),
            cost_per_byte_q16: limit.cost_per_byte_q16,
            tolerance_ticks: limit.tolerance_ticks,
        };
        d.zone_conns.insert(row.eni_index, zc);
        d.enis.insert(EniKey { vpc, family: FAMILY_V4, _pad: [0; 3], addr: v4(row.eni_ip) }, row.eni_index);
        d.addresses.entry(row.vpc_interface.clone()).or_default().push(IpAddr::V4(row.eni_ip));
    }
    for addrs in d.addresses.values_mut() {
        addrs.sort_unstable();
        addrs.dedup();
    }
    d
}
