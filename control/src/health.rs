//! Health probes of service resources (R24): a TCP connect to each attached resource's VIP
//! and health-check port per round; after `fall` failures in a row a resource is down, after
//! `rise` successes it is up again. Verdict changes go through the state owner, which moves
//! the zone connections of a failed resource to another resource of the same zone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::inventory::LoadBalancer;
use crate::state::State;

/// Probe settings.
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    /// Time between rounds.
    pub interval: Duration,
    /// Connect timeout of one probe.
    pub timeout: Duration,
    /// Failures in a row that make a healthy resource unhealthy.
    pub fall: u32,
    /// Successes in a row that make an unhealthy resource healthy.
    pub rise: u32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            fall: 3,
            rise: 2,
        }
    }
}

/// (service, zone, resource).
pub type ResourceKey = (String, String, String);

/// Maps a resource in a zone to the address its health check connects to.
pub type Target = Box<dyn Fn(&LoadBalancer, &str) -> Option<SocketAddr> + Send + Sync>;

/// Hysteresis over probe results.
#[derive(Debug, Default)]
pub struct Verdicts {
    streaks: HashMap<ResourceKey, (bool, u32)>,
}

impl Verdicts {
    /// Records one probe result for a resource currently `healthy`; returns the new verdict
    /// when it changes.
    pub fn observe(
        &mut self,
        cfg: &ProbeConfig,
        key: &ResourceKey,
        ok: bool,
        healthy: bool,
    ) -> Option<bool> {
        let s = self.streaks.entry(key.clone()).or_insert((ok, 0));
        if s.0 == ok {
            s.1 += 1;
        } else {
            *s = (ok, 1);
        }
        match (healthy, ok) {
            (true, false) if s.1 >= cfg.fall => Some(false),
            (false, true) if s.1 >= cfg.rise => Some(true),
            _ => None,
        }
    }

    /// Forgets resources that are no longer attached.
    pub fn retain(&mut self, live: &[ResourceKey]) {
        self.streaks.retain(|k, _| live.contains(k));
    }
}

/// Where to probe a resource in a zone: by default its VIP and health-check port.
#[must_use]
pub fn default_target(lb: &LoadBalancer, zone: &str) -> Option<SocketAddr> {
    lb.vip(zone)
        .map(|ip| SocketAddr::new(ip, lb.health_check_port))
}

async fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// One round: probes every attached resource once and commits verdict changes. Returns the
/// changes made.
pub async fn round(
    state: &State,
    cfg: &ProbeConfig,
    verdicts: &mut Verdicts,
    target: &(dyn Fn(&LoadBalancer, &str) -> Option<SocketAddr> + Sync),
) -> Vec<(ResourceKey, bool)> {
    let inv = std::sync::Arc::clone(state.inventory());
    let targets: Vec<(ResourceKey, bool, SocketAddr)> = {
        let t = state.read();
        t.services
            .values()
            .flat_map(|s| s.resources.values().map(move |r| (s.id.clone(), r)))
            .filter_map(|(sid, r)| {
                let lb = inv.load_balancer(&r.id)?;
                let addr = target(lb, &r.zone)?;
                Some(((sid, r.zone.clone(), r.id.clone()), r.healthy, addr))
            })
            .collect()
    };
    let results =
        futures_util::future::join_all(targets.iter().map(|(_, _, a)| probe(*a, cfg.timeout)))
            .await;
    let live: Vec<ResourceKey> = targets.iter().map(|(k, ..)| k.clone()).collect();
    verdicts.retain(&live);
    let mut changes = Vec::new();
    for ((key, healthy, _), ok) in targets.into_iter().zip(results) {
        if let Some(v) = verdicts.observe(cfg, &key, ok, healthy) {
            let (svc, zone, res) = &key;
            match state.set_resource_health(svc, zone, res, v).await {
                Ok(moved) => {
                    tracing::warn!(service = %svc, zone = %zone, resource = %res, healthy = v, moved = moved.len(), "resource health changed");
                    changes.push((key, v));
                }
                Err(e) => tracing::error!(error = %e, "health verdict not recorded"),
            }
        }
    }
    changes
}

/// Probes forever, one round per `cfg.interval`.
pub async fn run(state: State, cfg: ProbeConfig, target: Target) {
    let mut verdicts = Verdicts::default();
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        round(&state, &cfg, &mut verdicts, target.as_ref()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inventory::Inventory;
    use crate::model::tests_support::{World, seed_state, service_req};
    use crate::store::SqliteStore;

    const CFG: ProbeConfig = ProbeConfig {
        interval: Duration::from_millis(10),
        timeout: Duration::from_millis(300),
        fall: 3,
        rise: 2,
    };

    #[test]
    fn hysteresis_needs_fall_failures_and_rise_successes() {
        let mut v = Verdicts::default();
        let k = ("s".to_owned(), "z".to_owned(), "r".to_owned());
        assert_eq!(v.observe(&CFG, &k, false, true), None);
        assert_eq!(v.observe(&CFG, &k, true, true), None); // streak broken
        assert_eq!(v.observe(&CFG, &k, false, true), None);
        assert_eq!(v.observe(&CFG, &k, false, true), None);
        assert_eq!(v.observe(&CFG, &k, false, true), Some(false));
        assert_eq!(v.observe(&CFG, &k, true, false), None);
        assert_eq!(v.observe(&CFG, &k, true, false), Some(true));
    }

    #[test]
    fn r24_failed_resource_moves_its_zone_connections_and_comes_back() {
        let inv = Inventory::parse(include_str!("../examples/inventory.toml")).unwrap();
        let st = State::start(Arc::new(inv), Box::new(SqliteStore::in_memory().unwrap())).unwrap();
        let service = service_req(&[("nlb-prov1", "cn-hangzhou-a"), ("nlb-prov2", "cn-hangzhou-a")], true);
        let ep = seed_state(&st, service, World::endpoint_req("", &[("cn-hangzhou-a", "vsw-c1a")]));
        let first = st.read().endpoints[&ep].zones["cn-hangzhou-a"]
            .resource_id
            .clone()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Each resource's health check is a real listener on loopback; the allocated one goes away.
            let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let (up_addr, down_addr) = (up.local_addr().unwrap(), down.local_addr().unwrap());
            drop(down);
            let failing = first.clone();
            let target = move |lb: &LoadBalancer, _: &str| {
                Some(if lb.id == failing { down_addr } else { up_addr })
            };
            let mut v = Verdicts::default();
            for _ in 0..2 {
                assert!(
                    round(&st, &CFG, &mut v, &target).await.is_empty(),
                    "not before `fall` failures"
                );
            }
            let changes = round(&st, &CFG, &mut v, &target).await;
            assert_eq!(changes.len(), 1);
            assert!(!changes[0].1);
            let now = st.read().endpoints[&ep].zones["cn-hangzhou-a"]
                .resource_id
                .clone()
                .unwrap();
            assert_ne!(
                now, first,
                "the zone connection moved to the healthy resource"
            );
            // the resource recovers after `rise` good rounds
            let all_up = move |_: &LoadBalancer, _: &str| Some(up_addr);
            round(&st, &CFG, &mut v, &all_up).await;
            let back = round(&st, &CFG, &mut v, &all_up).await;
            assert_eq!(back.len(), 1);
            assert!(back[0].1);
            drop(up);
        });
    }
}
