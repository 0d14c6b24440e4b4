//! Flow sweeping: deletes flows idle past their timeout (TCP established, TCP closing, UDP)
//! and flows of ENIs that are no longer published. LRU eviction stays the backstop when a
//! table is full; this keeps tables from filling with dead flows in the first place.

use std::collections::BTreeSet;

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

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_coarse_ns`.
#[must_use]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// One pass over the flow table. `known` holds the ENI indexes currently published.
pub fn sweep(maps: &mut Maps, timeouts: &Timeouts, known: &BTreeSet<u32>) -> Result<SweepStats, ReconcileError> {
    let now = monotonic_ns();
    let mut st = SweepStats::default();
    let mut gone_enis = BTreeSet::new();
    for f in maps.flows()? {
        let (flags, last) = match &f.rev {
            Some(r) => (f.fwd.flags | r.flags, f.fwd.last_seen_ns.max(r.last_seen_ns)),
            None => (f.fwd.flags, f.fwd.last_seen_ns),
        };
        if !known.contains(&f.fwd.eni) {
            gone_enis.insert(f.fwd.eni);
            st.orphaned += 1;
        } else if expired(f.key.proto(), flags, last, now, timeouts) {
            maps.remove_flow(&f);
            st.expired += 1;
        } else {
            st.live += 1;
        }
    }
    if !gone_enis.is_empty() {
        maps.flush_flows(&gone_enis)?;
    }
    // Reverse entries without a forward half (the LRU evicted it) that went idle.
    let stale: Vec<_> = maps
        .ct_rev
        .iter()
        .filter_map(Result::ok)
        .filter(|(_, r)| expired(0, r.flags, r.last_seen_ns, now, timeouts) || !known.contains(&r.eni))
        .map(|(k, _)| k)
        .collect();
    for k in &stale {
        if maps.ct_rev.remove(k).is_ok() {
            st.expired += 1;
        }
    }
    Ok(st)
}
