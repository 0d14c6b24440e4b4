//! `demo` (run by `cargo xtask demo`): the whole product on one machine.
//!
//! Two zones, two consumer accounts whose VPCs use the same CIDRs, a provider whose load
//! balancers (two in zone A, one in zone B) front a real HTTP server; `eplinkd` on the
//! gateway; the seed's workflow walked with the `eplink` CLI; real requests through the
//! ENIs; a load balancer failing its health check and its zones failing over; what an
//! operator sees; then how to explore and how to tear down.

use std::{
    io::{BufRead, IsTerminal},
    net::{Ipv4Addr, SocketAddr},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::sleep,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use eplink_tests::gateway::{bin, field, Gateway, CONSUMER1, CONSUMER2, ENI_A, ENI_B, HEALTH_CHECKS, PROVIDER, ZONE_A, ZONE_B};


/// Kills a background process when the demo ends, however it ends.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn step(s: &str) {
    println!("\n\x1b[1m== {s}\x1b[0m");
}

/// Runs the CLI as `who` and shows its table, the way a user would see it.
fn show(g: &Gateway, who: (&str, &str, &str), label: &str, args: &[&str]) -> Result<()> {
    println!("{label}$ eplink {}", args.join(" "));
    let out = g.cli(who).args(args).output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!("eplink {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `curl http://<eni>/` from a consumer VPC: Ok(summary line) or Err(curl's complaint).
fn try_curl(g: &Gateway, vpc: usize, eni: Ipv4Addr, timeout_s: u32) -> Result<Result<String, String>> {
    let out = Command::new("ip")
        .args(["netns", "exec", &g.topo.vpcs[vpc].name, "curl", "-sS", "-m", &timeout_s.to_string(), "-o", "/dev/null"])
        .args(["-w", "HTTP %{http_code}, %{size_download} bytes, connected to %{remote_ip}\n"])
        .arg(format!("http://{eni}/"))
        .output()?;
    Ok(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    })
}

/// A request that must be answered.
fn curl(g: &Gateway, vpc: usize, eni: Ipv4Addr) -> Result<()> {
    match try_curl(g, vpc, eni, 5)? {
        Ok(line) => print!("  vpc{} $ curl http://{eni}/  ->  {line}", vpc + 1),
        Err(e) => bail!("curl through {eni} failed: {e}"),
    }
    Ok(())
}

/// Step 9: the zone A load balancer in use fails its health check; every zone A connection
/// moves to the other one (R24) and requests keep working.
fn fail_over(g: &Gateway, health_down: &[Arc<AtomicBool>]) -> Result<()> {
    step("9. a zone A load balancer stops answering its health check: its zones fail over to the other one (R24)");
    let zone_a_vips = |g: &Gateway| -> Vec<Ipv4Addr> {
        let maps = g.topo.maps();
        let zcs = maps.zone_conns.iter().filter_map(Result::ok).filter(|z| z.state == eplink_dataplane::abi::ZONE_CONNECTED);
        zcs.map(|z| eplink_dataplane::to_v4(&z.vip)).filter(|v| HEALTH_CHECKS[..2].iter().any(|h| h.2 == *v)).collect()
    };
    let used = zone_a_vips(g);
    let failing = HEALTH_CHECKS[..2].iter().position(|h| used.contains(&h.2)).context("no zone A resource in use")?;
    let (name, _, vip, port) = HEALTH_CHECKS[failing];
    println!("  zone A connections use {used:?}; {name} ({vip}) now refuses its health check on port {port}");
    health_down[failing].store(true, Ordering::Relaxed);
    g.wait_for("zone A to fail over", || !zone_a_vips(g).contains(&vip));
    println!("  zone A connections now use {:?}", zone_a_vips(g));
    show(g, PROVIDER, "provider", &["connection", "list"])?;
    for vpc in 0..2 {
        curl(g, vpc, ENI_A)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    step("1. the world: two zones, two consumer VPCs (both 10.0.0.0/24 and 10.0.1.0/24), a provider");
    let mut g = Gateway::new();
    let t = &g.topo;
    println!("  namespaces: vpc1={} vpc2={} gateway={} provider={}", t.vpcs[0].name, t.vpcs[1].name, t.gw.name, t.provider.name);
    println!("  load balancers: nlb-a1 192.0.2.10 (zone A), nlb-a2 192.0.2.20 (zone A), nlb-b1 192.0.2.30 (zone B)");
    println!("  inventory: {}", g.inventory.display());

    step("2. the provider's service: a real HTTP server behind every load balancer VIP");
    let http = Bg(Command::new("ip")
        .args(["netns", "exec", &g.topo.provider.name, "python3", "-m", "http.server", "80", "--bind", "0.0.0.0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start python3 http.server")?);

    // Every load balancer gets a health check of its own (a listener on its VIP), and the
    // daemon probes them twice a second (R24; see step 9).
    g.probe_health(500);
    let health_down: Vec<Arc<AtomicBool>> = HEALTH_CHECKS.iter().map(|_| Arc::new(AtomicBool::new(false))).collect();
    for ((_, _, vip, port), down) in HEALTH_CHECKS.iter().zip(&health_down) {
        g.health_listener(SocketAddr::from((*vip, *port)), Arc::clone(down));
    }

    step("3. eplinkd on the gateway: loads the XDP program, attaches c1 c2 p0 p1, serves the API, probes health");
    g.start();
    println!("  API on 127.0.0.1:{}, metrics on 127.0.0.1:{}/metrics (gateway namespace)", g.api_port, g.metrics_port);

    step("4. provider: create the service (manual acceptance, two NLBs in zone A, one in zone B) and whitelist both consumers");
    let svc = g.eplink(
        PROVIDER,
        &["service", "create", "--type", "nlb", "--resource", "nlb-a1@cn-hangzhou-a", "--resource", "nlb-a2@cn-hangzhou-a", "--resource", "nlb-b1@cn-hangzhou-b"],
    );
    let svc = field(&svc, "ServiceId").to_string();
    for c in [CONSUMER1, CONSUMER2] {
        g.eplink(PROVIDER, &["whitelist", "add", &svc, c.0]);
    }
    show(&g, PROVIDER, "provider", &["service", "show", &svc])?;

    step("5. consumers: find the service, create two-zone endpoints (the SAME ENI addresses in both VPCs)");
    show(&g, CONSUMER1, "consumer1", &["service", "available"])?;
    let mut eps = Vec::new();
    for (c, vpc, sg, n) in [(CONSUMER1, "vpc-c1", "sg-c1", 1), (CONSUMER2, "vpc-c2", "sg-c2", 2)] {
        let ep = g.eplink(
            c,
            &["endpoint", "create", "--service", &svc, "--vpc", vpc, "--sg", sg,
              "--zone", &format!("{ZONE_A}:vsw-c{n}a:{ENI_A}"), "--zone", &format!("{ZONE_B}:vsw-c{n}b:{ENI_B}")],
        );
        eps.push(field(&ep, "EndpointId").to_string());
    }
    show(&g, PROVIDER, "provider", &["connection", "list"])?;
    println!("  (Disconnected: auto-accept is off and nobody allowed them yet — R16/R17)");
    let r = try_curl(&g, 0, ENI_A, 2)?;
    println!("  vpc1 $ curl http://{ENI_A}/  ->  {}", r.map_or_else(|e| format!("refused by the dataplane ({e})"), |_| "answered?!".into()));

    step("6. provider: allow both connections, with a 1000 Mbit/s limit for consumer 2");
    g.eplink(PROVIDER, &["connection", "allow", &svc, &eps[0]]);
    g.eplink(PROVIDER, &["connection", "allow", "--bandwidth", "1000", &svc, &eps[1]]);
    show(&g, PROVIDER, "provider", &["connection", "list"])?;
    g.wait_for("the reconciler to connect every ENI", || {
        g.topo.maps().zone_conns.iter().filter_map(Result::ok).filter(|z| z.state == eplink_dataplane::abi::ZONE_CONNECTED).count() == 4
    });

    step("7. real requests through the ENIs: both VPCs, both zones (the server logs a SNAT source, never 10.0.0.5)");
    for vpc in 0..2 {
        for eni in [ENI_A, ENI_B] {
            curl(&g, vpc, eni)?;
        }
    }
    let ping = Command::new("ip").args(["netns", "exec", &g.topo.vpcs[1].name, "ping", "-c", "1", "-W", "2", &ENI_B.to_string()]).output()?;
    println!("  vpc2 $ ping {ENI_B}  ->  {}", String::from_utf8_lossy(&ping.stdout).lines().nth(1).unwrap_or("no reply"));

    step("8. provider: disconnect consumer 1's zone A; its zone B keeps working");
    g.eplink(PROVIDER, &["zone-connection", "disable", &svc, &eps[0], ZONE_A]);
    sleep(Duration::from_millis(300));
    let r = try_curl(&g, 0, ENI_A, 2)?;
    println!("  vpc1 $ curl http://{ENI_A}/  ->  {}", if r.is_ok() { "answered?!" } else { "no answer: zone A disconnected" });
    curl(&g, 0, ENI_B)?;
    g.eplink(PROVIDER, &["zone-connection", "enable", &svc, &eps[0], ZONE_A]);
    sleep(Duration::from_millis(300));
    curl(&g, 0, ENI_A)?;

    fail_over(&g, &health_down)?;

    step("10. what an operator sees (read straight from the pinned maps; works with the daemon down)");
    show(&g, PROVIDER, "operator", &["dp", "enis"])?;
    show(&g, PROVIDER, "operator", &["dp", "flows"])?;
    show(&g, PROVIDER, "operator", &["dp", "stats"])?;
    show(&g, PROVIDER, "operator", &["dp", "maps"])?;
    drop(http);
    for down in &health_down {
        down.store(true, Ordering::Relaxed);
    }

    step("11. explore");
    let gw = &g.topo.gw.name;
    println!("  export EPLINK_ENDPOINT=127.0.0.1:{} EPLINK_INVENTORY={}", g.api_port, g.inventory.display());
    println!("  export EPLINK_ACCESS_KEY_ID={} EPLINK_ACCESS_KEY_SECRET={}   # the provider", PROVIDER.1, PROVIDER.2);
    println!("  nsenter --net=/var/run/netns/{gw} {} connection list", bin("eplink").display());
    println!("  nsenter --net=/var/run/netns/{gw} {} dp top", bin("eplink").display());
    println!("  nsenter --net=/var/run/netns/{gw} curl -s 127.0.0.1:{}/metrics | grep eplink_eni", g.metrics_port);
    println!("  ip netns exec {} curl http://{ENI_A}/          # a consumer host in VPC 1", g.topo.vpcs[0].name);
    println!("  bpftool map dump pinned {}/CT_FWD", g.topo.pin_dir.display());
    if std::io::stdin().is_terminal() {
        println!("\n  The demo stays up until you press Enter; then it tears everything down.");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok();
    } else {
        println!("\n  (not a terminal: tearing down now; run `cargo xtask demo` in a terminal to keep it up)");
    }

    step("12. tear-down: the daemon stops, pins and namespaces are removed");
    g.stop();
    Ok(())
}
