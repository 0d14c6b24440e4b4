//! `bench-reconcile` (run by `cargo xtask bench reconcile`): how long the real `eplinkd`
//! takes to bring the pinned maps level with the committed connection table.
//!
//! - `apply_1k_endpoints_s`, `apply_10k_endpoints_s`: N endpoints are created through the API
//!   (signed HTTP, several concurrent clients, auto-accepted so every ENI is `Connected` at
//!   creation); the clock starts at the last acknowledged call and stops when the pinned maps
//!   hold all N ENIs with their zone connections connected. Target: 10,000 within 1 s.
//! - `api_1k_endpoints_s`, `api_10k_endpoints_s`: the creates themselves, for context.
//! - `addresses_1k_s`, `addresses_10k_s`: last ack → every ENI address on the consumer
//!   interface (netlink, so the kernel answers ARP), which follows the maps asynchronously.
//! - `restart_adopt_s`: with 10,000 endpoints, SIGTERM to the new daemon's first reconcile
//!   over the adopted maps (the log line's timestamp), which must write nothing.
//!
//! Each size gets a fresh gateway (namespaces, pins, store), removed on every path.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, ensure, Context, Result};
use eplink_control::client::Client;
use eplink_dataplane::abi::ZONE_CONNECTED;
use eplink_tests::{
    gateway::{Gateway, CONSUMER1, PROVIDER, ZONE_A},
    in_ns, report,
};

/// Concurrent API clients creating endpoints.
const CLIENTS: usize = 4;
/// A /16 vSwitch for the bench (the harness's /24s hold about 250 ENIs).
const BENCH_VSWITCH: &str = r#"
[[vswitches]]
id = "vsw-bench"
vpc = "vpc-c1"
zone = "cn-hangzhou-a"
cidr = "10.100.0.0/16"
"#;

fn client(g: &Gateway, who: (&str, &str, &str)) -> Client {
    Client::new(&format!("127.0.0.1:{}", g.api_port), who.1, who.2, "cn-hangzhou")
}

/// A gateway whose daemon runs with the bench vSwitch, and an auto-accepting service that
/// consumer 1 may use. Returns the gateway and the service id.
fn gateway() -> Result<(Gateway, String)> {
    let mut g = Gateway::new();
    let mut inv = std::fs::read_to_string(&g.inventory)?;
    inv.push_str(BENCH_VSWITCH);
    std::fs::write(&g.inventory, inv)?;
    g.start();
    let provider = client(&g, PROVIDER);
    let sid = in_ns(&g.topo.gw, move || -> Result<String> {
        let svc = provider.call(
            "CreateVpcEndpointService",
            &[
                ("ServiceResourceType", "nlb".into()),
                ("AutoAcceptEnabled", "true".into()),
                ("Resource.1.ResourceId", "nlb-a1".into()),
                ("Resource.1.ResourceType", "nlb".into()),
                ("Resource.1.ZoneId", ZONE_A.into()),
            ],
        )?;
        let sid = svc["ServiceId"].as_str().context("ServiceId")?.to_string();
        provider.call("AddUserToVpcEndpointService", &[("ServiceId", sid.clone()), ("UserId", CONSUMER1.0.into())])?;
        Ok(sid)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("service set-up panicked"))??;
    Ok((g, sid))
}

/// Creates `n` endpoints from `CLIENTS` threads; returns the instant of the last
/// acknowledged call and the seconds all creates took.
fn create_endpoints(g: &Gateway, sid: &str, n: usize) -> Result<(Instant, f64)> {
    let t0 = Instant::now();
    let per = n.div_ceil(CLIENTS);
    let handles: Vec<_> = (0..CLIENTS)
        .map(|w| {
            let (c, sid) = (client(g, CONSUMER1), sid.to_string());
            let count = per.min(n.saturating_sub(w * per));
            in_ns(&g.topo.gw, move || -> Result<Instant> {
                let mut last = Instant::now();
                for _ in 0..count {
                    c.call(
                        "CreateVpcEndpoint",
                        &[
                            ("ServiceId", sid.clone()),
                            ("VpcId", "vpc-c1".into()),
                            ("SecurityGroupId.1", "sg-c1".into()),
                            ("Zone.1.ZoneId", ZONE_A.into()),
                            ("Zone.1.VSwitchId", "vsw-bench".into()),
                        ],
                    )?;
                    last = Instant::now();
                }
                Ok(last)
            })
        })
        .collect();
    let mut last_ack = t0;
    for h in handles {
        last_ack = last_ack.max(h.join().map_err(|_| anyhow::anyhow!("creator panicked"))??);
    }
    Ok((last_ack, (last_ack - t0).as_secs_f64()))
}

/// Whether the pinned maps hold exactly `n` ENIs, each with a connected zone connection.
fn maps_complete(g: &Gateway, n: usize) -> bool {
    let m = g.topo.maps();
    let enis: BTreeSet<u32> = m.enis.iter().filter_map(Result::ok).map(|(_, i)| i).collect();
    enis.len() == n && m.enis.keys().count() == n && enis.iter().all(|i| m.zone_conn(*i).is_ok_and(|z| z.state == ZONE_CONNECTED))
}

/// Polls the maps until they are complete; seconds from `since`.
fn wait_complete(g: &Gateway, n: usize, since: Instant) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_mins(2);
    // Counting keys is cheap; the full check (a lookup per ENI) only once the count is right.
    while Instant::now() < deadline {
        if g.topo.maps().enis.keys().count() == n && maps_complete(g, n) {
            return Ok(since.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("the maps did not reach {n} connected ENIs within 120 s\n{}", tail(&g.log()))
}

/// ENI addresses of the bench vSwitch on the consumer interface (what ARP answers for).
fn addresses_on_interface(g: &Gateway) -> usize {
    let out = std::process::Command::new("ip").args(["-n", &g.topo.gw.name, "-4", "-o", "addr", "show", "dev", "c1"]).output();
    out.map_or(0, |o| String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(" 10.100.")).count())
}

/// Polls the interface until it carries `n` bench addresses; seconds from `since`.
fn wait_addresses(g: &Gateway, n: usize, since: Instant) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_mins(2);
    while Instant::now() < deadline {
        if addresses_on_interface(g) == n {
            return Ok(since.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("c1 did not carry {n} ENI addresses within 120 s\n{}", tail(&g.log()))
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Seconds since UTC midnight of a `tracing` timestamp (`2026-01-02T03:04:05.678901Z`).
fn log_time_of_day(line: &str) -> Option<f64> {
    let t = line.split('T').nth(1)?.split('Z').next()?;
    let mut parts = t.split(':');
    let (h, m, s): (f64, f64, f64) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}


/// SIGTERM → the new daemon's first reconcile (its log line's timestamp), in seconds; the
/// run must have written nothing and the maps must still be complete.
fn restart_adopt(g: &mut Gateway, n: usize) -> Result<f64> {
    let first = |g: &Gateway| -> Vec<String> { g.log().lines().filter(|l| l.contains("first reconcile done")).map(str::to_owned).collect() };
    let before = first(g).len();
    let sigterm = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64() % 86_400.0;
    g.stop();
    g.start();
    let deadline = Instant::now() + Duration::from_mins(1);
    let line = loop {
        if let Some(l) = first(g).get(before) {
            break l.clone();
        }
        ensure!(Instant::now() < deadline, "no first reconcile after the restart\n{}", tail(&g.log()));
        std::thread::sleep(Duration::from_millis(10));
    };
    ensure!(line.contains("writes=0 flushed=0"), "adopting equal maps wrote something: {line}");
    // Where the time went, from the new daemon's own log lines.
    let log: Vec<String> = g.log().lines().map(str::to_owned).collect();
    let new_daemon = log.iter().rposition(|l| l.contains("connection table loaded")).unwrap_or(0);
    for l in &log[new_daemon..] {
        if ["connection table loaded", "dataplane loaded", "first reconcile done"].iter().any(|w| l.contains(w))
            && let Some(t) = log_time_of_day(l)
        {
            let what = l.split_once("  INFO ").map_or(l.as_str(), |(_, r)| r);
            println!("  +{:.3} s  {}", (t - sigterm).rem_euclid(86_400.0), what.chars().take(90).collect::<String>());
        }
    }
    ensure!(maps_complete(g, n), "the maps lost entries over the restart");
    let done = log_time_of_day(&line).context("timestamp of the first reconcile")?;
    Ok((done - sigterm).rem_euclid(86_400.0))
}

fn main() -> Result<()> {
    let mut metrics = Vec::new();
    let mut restart = 0.0;
    let sizes = [
        (1_000, "apply_1k_endpoints_s", "api_1k_endpoints_s", "addresses_1k_s"),
        (10_000, "apply_10k_endpoints_s", "api_10k_endpoints_s", "addresses_10k_s"),
    ];
    for (n, apply_name, api_name, addr_name) in sizes {
        let (mut g, sid) = gateway()?;
        let (last_ack, api_s) = create_endpoints(&g, &sid, n)?;
        let apply_s = wait_complete(&g, n, last_ack)?;
        let addr_s = wait_addresses(&g, n, last_ack)?;
        println!("{n} endpoints: API {api_s:.2} s, last ack → maps complete {apply_s:.3} s, → addresses on c1 {addr_s:.3} s");
        // The daemon's own account of its last runs (time to compute, time to apply).
        let log = g.log();
        let runs: Vec<String> = log.lines().filter(|l| l.contains("maps reconciled") || l.contains("ENI addresses on")).map(str::to_owned).collect();
        println!("  {} reconcile runs wrote during the creates; the last ones:", runs.iter().filter(|l| l.contains("maps reconciled")).count());
        for l in &runs[runs.len().saturating_sub(4)..] {
            println!("    {}", l.split_once("  INFO ").map_or(l.as_str(), |(_, r)| r));
        }
        metrics.push((apply_name, apply_s));
        metrics.push((api_name, api_s));
        metrics.push((addr_name, addr_s));
        if n == 10_000 {
            restart = restart_adopt(&mut g, n)?;
            println!("restart with {n} endpoints: SIGTERM → first reconcile {restart:.3} s");
        }
    }
    metrics.push(("restart_adopt_s", restart));
    report("reconcile", &metrics)?;
    Ok(())
}
