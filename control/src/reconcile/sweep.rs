//! Flow sweeping: deletes flows idle past their timeout (TCP established, TCP closing, UDP)
//! and flows of ENIs that are no longer published. LRU eviction stays the backstop when a
//! table is full; this keeps tables from filling with dead flows in the first place.

use std::collections::{BTreeSet, HashSet};

use eplink_dataplane::{
    abi::flow::{expired, Timeouts},
    Maps,
};

use super::ReconcileError;

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    /// Flows left in the table.
    pub live: usize,
    /// Flows deleted for idleness.
    pub expired: usize,
    /// Flows deleted because their ENI is gone.
    pub orphaned: usize,
}

/// One pass over the flow table at jiffy `now` of a kernel ticking `hz` times a second
/// (see `eplink_dataplane::Clock`). `known` holds the ENI indexes currently published.
pub fn sweep(maps: &mut Maps, (now, hz): (u64, u64), timeouts: &Timeouts, known: &BTreeSet<u32>) -> Result<SweepStats, ReconcileError> {
    let mut st = SweepStats::default();
    let mut gone_enis = BTreeSet::new();
    // Reverse halves of the flows that stay: judged with their forward half above, never
    // again on their own below.
    let mut kept_rev = HashSet::new();
    for f in maps.flows()? {
        let (flags, last) = match &f.rev {
            Some(r) => (f.fwd.flags | r.flags, f.fwd.last_seen.max(r.last_seen)),
            None => (f.fwd.flags, f.fwd.last_seen),
        };
        if !known.contains(&f.fwd.eni) {
            gone_enis.insert(f.fwd.eni);
            st.orphaned += 1;
        } else if expired(f.key.proto(), flags, last, now, hz, timeouts) {
            maps.remove_flow(&f);
            st.expired += 1;
        } else {
            kept_rev.insert(Maps::reverse_key(&f.key, &f.fwd));
            st.live += 1;
        }
    }
    if !gone_enis.is_empty() {
        maps.flush_flows(&gone_enis)?;
    }
    // Reverse entries without a forward half (the LRU evicted it) that went idle, by their
    // own protocol's timeout.
    let stale: Vec<_> = maps
        .ct_rev
        .iter()
        .filter_map(Result::ok)
        .filter(|(k, r)| {
            !kept_rev.contains(k) && (expired(k.proto(), r.flags, r.last_seen, now, hz, timeouts) || !known.contains(&r.eni))
        })
        .map(|(k, _)| k)
        .collect();
    for k in &stale {
        if maps.ct_rev.remove(k).is_ok() {
            st.expired += 1;
        }
    }
    Ok(st)
}
