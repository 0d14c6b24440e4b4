//! The daemon's dataplane side: start-up checks, load/adopt and attach, and the reconcile
//! loop thread that owns the maps (nothing else writes them).

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use eplink_dataplane::{abi::flow::Timeouts, Dataplane, LoadOptions};
use tracing::{error, info, warn};

use super::{apply, desired, sweep, sync_eni_addresses, IfIndexes, ReconcileError};
use crate::{inventory::Inventory, model::dataplane_view, state::State};

/// Why the dataplane could not start; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Not root.
    #[error("eplinkd must run as root (CAP_BPF and CAP_NET_ADMIN) to load and attach XDP; run it as root or with --no-dataplane")]
    NotRoot,
    /// An interface named in the inventory is missing.
    #[error("interface {name:?} ({field}) does not exist on this host; create it or fix the inventory")]
    MissingInterface { name: String, field: String },
    /// Loading, pinning or attaching failed (a verifier rejection carries the verifier log).
    #[error("{0}")]
    Dataplane(#[from] eplink_dataplane::Error),
}

/// Counters of the reconcile loop, read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct LoopMetrics {
    pub runs: AtomicU64,
    pub errors: AtomicU64,
    pub writes: AtomicU64,
    pub flows_flushed: AtomicU64,
    pub flows_expired: AtomicU64,
    /// Microseconds from a commit being observed to the maps matching it (last run).
    pub last_lag_us: AtomicU64,
    /// Largest lag seen.
    pub max_lag_us: AtomicU64,
    /// State version the maps match (0 before the first successful run).
    pub applied_version: AtomicU64,
}

impl LoopMetrics {
    /// The counters as (metric name, value) pairs for the Prometheus renderer.
    #[must_use]
    pub fn gauges(&self) -> Vec<(String, f64)> {
        #[expect(clippy::cast_precision_loss, reason = "counters far below 2^52")]
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        vec![
            ("eplink_reconcile_runs_total".into(), g(&self.runs)),
            ("eplink_reconcile_errors_total".into(), g(&self.errors)),
            ("eplink_reconcile_writes_total".into(), g(&self.writes)),
            ("eplink_reconcile_flows_flushed_total".into(), g(&self.flows_flushed)),
            ("eplink_sweep_flows_expired_total".into(), g(&self.flows_expired)),
            ("eplink_reconcile_lag_seconds".into(), g(&self.last_lag_us) / 1e6),
            ("eplink_reconcile_lag_max_seconds".into(), g(&self.max_lag_us) / 1e6),
            ("eplink_reconcile_applied_version".into(), g(&self.applied_version)),
        ]
    }
}

/// Every interface the inventory names, with the field that names it.
fn inventory_interfaces(inv: &Inventory) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, v) in inv.vpcs.iter().enumerate() {
        out.push((v.gateway_interface.clone(), format!("vpcs[{i}].gateway_interface")));
    }
    for (i, z) in inv.zones.iter().enumerate() {
        out.push((z.gateway_interface.clone(), format!("zones[{i}].gateway_interface")));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Resolves the inventory's interfaces on this host; every one must exist.
pub fn resolve_interfaces(inv: &Inventory) -> Result<IfIndexes, StartError> {
    let mut out = IfIndexes::new();
    for (name, field) in inventory_interfaces(inv) {
        let c = std::ffi::CString::new(name.clone()).map_err(|_| StartError::MissingInterface { name: name.clone(), field: field.clone() })?;
        // SAFETY: NUL-terminated string we own.
        let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if idx == 0 {
            return Err(StartError::MissingInterface { name, field });
        }
        out.insert(name, idx);
    }
    Ok(out)
}

/// Loads the XDP program (adopting maps pinned by a previous daemon, so flows survive) and
/// attaches it to every interface of the inventory; a pinned link is updated in place.
pub fn start_dataplane(inv: &Inventory) -> Result<(Dataplane, IfIndexes), StartError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(StartError::NotRoot);
    }
    let ifindexes = resolve_interfaces(inv)?;
    let opts = LoadOptions { pin_dir: inv.dataplane.pin_dir.clone(), max_flows: inv.dataplane.max_flows };
    let mut dp = Dataplane::load(&opts)?;
    for name in ifindexes.keys() {
        let mode = dp.attach(name)?;
        info!(interface = %name, ?mode, "XDP attached");
    }
    Ok((dp, ifindexes))
}

/// Flow timeouts from the inventory.
#[must_use]
pub fn timeouts(inv: &Inventory) -> Timeouts {
    let s = 1_000_000_000;
    Timeouts {
        tcp_established_ns: inv.dataplane.tcp_established_timeout_s * s,
        tcp_closing_ns: inv.dataplane.tcp_closing_timeout_s * s,
        udp_ns: inv.dataplane.udp_timeout_s * s,
    }
}

/// Runs the reconcile loop on its own thread: after every commit (coalescing bursts) and
/// every `reconcile_interval_ms`; the sweeper runs on the timer too.
#[expect(clippy::needless_pass_by_value, reason = "eplinkd hands over a handle of its runtime")]
pub fn spawn(
    mut dp: Dataplane,
    ifindexes: IfIndexes,
    state: State,
    rt: tokio::runtime::Handle,
    metrics: Arc<LoopMetrics>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let inv = Arc::clone(state.inventory());
    let interval = Duration::from_millis(inv.dataplane.reconcile_interval_ms.max(10));
    let timeouts = timeouts(&inv);
    let (tx, rx) = mpsc::channel::<Instant>();
    let mut version = state.subscribe();
    rt.spawn(async move {
        while version.changed().await.is_ok() {
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    // ENI addresses follow the maps on a task of their own: with 10,000 ENIs a netlink sync
    // (a dump of every address, then one request per change) takes a few hundred ms, which
    // must not hold back the next map update. The thread hands over each wanted set; the
    // task applies the latest one (intermediate sets are skipped, as the maps skip commits).
    let (addr_tx, mut addr_rx) = tokio::sync::watch::channel(Arc::new(std::collections::BTreeMap::new()));
    {
        let (inv, ifindexes, metrics) = (Arc::clone(&inv), ifindexes.clone(), Arc::clone(&metrics));
        rt.spawn(async move {
            while addr_rx.changed().await.is_ok() {
                let want = Arc::clone(&addr_rx.borrow_and_update());
                let t = Instant::now();
                match sync_eni_addresses(&inv, &ifindexes, &want).await {
                    Ok(0) => {}
                    Ok(n) => info!(changes = n, ms = t.elapsed().as_secs_f64() * 1e3, "ENI addresses on interfaces updated"),
                    Err(e) => {
                        // Retried at the next timer tick, which hands the set over again.
                        metrics.errors.fetch_add(1, Ordering::Relaxed);
                        warn!(error = %e, "ENI addresses not updated");
                    }
                }
            }
        });
    }
    std::thread::Builder::new().name("eplink-reconcile".into()).spawn(move || {
        let mut addresses_dirty = true;
        let mut last_sweep = Instant::now();
        // The first run does not wait for a commit or the timer: a restarted daemon takes
        // over the adopted maps (and removes what went stale while it was down) at once.
        let mut startup = true;
        loop {
            let first = if startup {
                None
            } else {
                match rx.recv_timeout(interval) {
                    Ok(t) => Some(t),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            // Coalesce a burst of commits into one run; the lag counts from the first.
            while rx.try_recv().is_ok() {}
            let ver = *state.subscribe().borrow();
            let t_run = Instant::now();
            let view = dataplane_view(&state.read(), &inv);
            let want = desired(&view, &inv, &ifindexes);
            let desired_ms = t_run.elapsed().as_secs_f64() * 1e3;
            metrics.runs.fetch_add(1, Ordering::Relaxed);
            match apply(dp.maps_mut(), &want) {
                Ok(done) => {
                    metrics.writes.fetch_add(done.writes as u64, Ordering::Relaxed);
                    metrics.flows_flushed.fetch_add(done.flows_flushed as u64, Ordering::Relaxed);
                    metrics.applied_version.store(ver, Ordering::Relaxed);
                    if let Some(t0) = first {
                        let lag = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                        metrics.last_lag_us.store(lag, Ordering::Relaxed);
                        metrics.max_lag_us.fetch_max(lag, Ordering::Relaxed);
                    }
                    if startup {
                        // Tests and benchmarks wait for this line (writes=0: adopted as is).
                        info!(writes = done.writes, flushed = done.flows_flushed, version = ver, "first reconcile done");
                    }
                    if done.writes > 0 {
                        let apply_ms = t_run.elapsed().as_secs_f64() * 1e3 - desired_ms;
                        info!(writes = done.writes, flushed = done.flows_flushed, version = ver, desired_ms, apply_ms, "maps reconciled");
                        addresses_dirty = true;
                    }
                }
                Err(e) => {
                    metrics.errors.fetch_add(1, Ordering::Relaxed);
                    error!(error = %e, "reconcile failed; retrying on the next run");
                }
            }
            startup = false;
            if addresses_dirty || first.is_none() {
                // On every timer tick too, so an address removed behind our back comes back.
                addr_tx.send_replace(Arc::new(want.addresses.clone()));
                addresses_dirty = false;
            }
            if last_sweep.elapsed() >= interval {
                last_sweep = Instant::now();
                let known: BTreeSet<u32> = want.zone_conns.keys().copied().collect();
                let now = dp.clock().and_then(|c| Ok((c.now()?, c.hz())));
                match now.map_err(ReconcileError::from).and_then(|now| sweep(dp.maps_mut(), now, &timeouts, &known)) {
                    Ok(s) => {
                        metrics.flows_expired.fetch_add((s.expired + s.orphaned) as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        metrics.errors.fetch_add(1, Ordering::Relaxed);
                        warn!(error = %e, "flow sweep failed");
                    }
                }
            }
        }
    })
}
