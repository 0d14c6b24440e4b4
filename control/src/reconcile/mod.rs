//! The reconciler, the only writer of the BPF maps: it computes the maps' desired contents
//! from the committed connection table, diffs them against the live maps and applies the
//! difference. Level-triggered and idempotent: it runs after every commit and on a timer,
//! and a run over maps that already match writes nothing.

mod desired;
mod ifaddr;
pub mod runner;
mod sweep;

use std::collections::{BTreeSet, HashMap};

use eplink_dataplane::{
    abi::{EniKey, IfaceInfo, IfaceKey, SnatPool, ZoneConn, ZONE_DISCONNECTED},
    Maps,
};

pub use desired::{desired, Desired, IfIndexes};
pub use ifaddr::sync_eni_addresses;
pub use sweep::{sweep, SweepStats};

/// Errors of one reconcile run; the next run starts over.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A map operation failed.
    #[error(transparent)]
    Dataplane(#[from] eplink_dataplane::Error),
    /// A raw map operation failed.
    #[error("map {0}: {1}")]
    Map(&'static str, aya::maps::MapError),
    /// Netlink (ENI addresses on interfaces) failed.
    #[error("netlink: {0}")]
    Netlink(String),
}

/// What one run changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Map entries written or deleted.
    pub writes: usize,
    /// Flows deleted because their ENI was withdrawn, disconnected or re-pointed.
    pub flows_flushed: usize,
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> ReconcileError {
    move |e| ReconcileError::Map(name, e)
}

/// Makes the live maps equal to `want`. Order matters for packets in flight: a new ENI's
/// zone connection is written before its address is published, and a withdrawn ENI's
/// address disappears before its zone connection is cleared and its flows are flushed.
pub fn apply(maps: &mut Maps, want: &Desired) -> Result<Applied, ReconcileError> {
    let mut done = Applied::default();

    // Interfaces.
    let live_ifaces: HashMap<IfaceKey, IfaceInfo> = maps.served_ifaces()?.into_iter().collect();
    for (k, v) in &want.ifaces {
        if live_ifaces.get(k) != Some(v) {
            maps.set_iface(*k, v)?;
            done.writes += 1;
        }
    }
    for k in live_ifaces.keys().filter(|k| !want.ifaces.contains_key(k)) {
        #[expect(clippy::cast_possible_truncation, reason = "VLAN ids are 12 bits")]
        maps.remove_iface(k.ifindex, k.vlan as u16)?;
        done.writes += 1;
    }

    // SNAT pools (array: compare slot by slot).
    for (zone, pool) in &want.snat_pools {
        let live: SnatPool = maps.snat_pools.get(zone, 0).map_err(map_err("SNAT_POOLS"))?;
        if live != *pool {
            maps.snat_pools.set(*zone, pool, 0).map_err(map_err("SNAT_POOLS"))?;
            done.writes += 1;
        }
    }

    // ENIs and their zone connections.
    let live_enis: HashMap<EniKey, u32> = maps.enis.iter().filter_map(Result::ok).collect();
    let mut flush: BTreeSet<u32> = BTreeSet::new();
    for (idx, zc) in &want.zone_conns {
        let live: ZoneConn = maps.zone_conns.get(idx, 0).map_err(map_err("ZONE_CONNS"))?;
        if live != *zc {
            if live.state != ZONE_DISCONNECTED && (zc.state == ZONE_DISCONNECTED || live.vip != zc.vip) {
                // Disconnected (R16), or re-pointed while connected (forced migration R29,
                // failover R24): the old flows must stop, not linger.
                flush.insert(*idx);
            }
            maps.zone_conns.set(*idx, zc, 0).map_err(map_err("ZONE_CONNS"))?;
            done.writes += 1;
        }
    }
    for (k, idx) in &want.enis {
        if live_enis.get(k) != Some(idx) {
            maps.enis.insert(k, idx, 0).map_err(map_err("ENIS"))?;
            done.writes += 1;
        }
    }
    let mut withdrawn: BTreeSet<u32> = BTreeSet::new();
    for (k, idx) in &live_enis {
        if !want.enis.contains_key(k) {
            maps.enis.remove(k).map_err(map_err("ENIS"))?;
            done.writes += 1;
            if !want.zone_conns.contains_key(idx) {
                withdrawn.insert(*idx);
            }
        }
    }
    for idx in &withdrawn {
        maps.zone_conns.set(*idx, ZoneConn::default(), 0).map_err(map_err("ZONE_CONNS"))?;
        done.writes += 1;
        flush.insert(*idx);
    }
    // Flows of ENIs that are not published at all (stale at start-up) go with the sweeper,
    // which walks the whole flow table anyway.
    if !flush.is_empty() {
        done.flows_flushed = maps.flush_flows(&flush)?;
        done.writes += done.flows_flushed;
    }
    Ok(done)
}
