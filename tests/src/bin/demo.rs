//! `demo` (run by `cargo xtask demo`): two consumer VPCs with the same addresses, a gateway running eplink's XDP
//! program, and a provider with a real HTTP server on a load balancer VIP; requests through
//! the ENI from both VPCs, then what the dataplane's maps hold.

use std::{
    process::{Child, Command, Stdio},
    thread::sleep,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use eplink_dataplane::{
    abi::Outcome,
    fixture::topo::{Topology, ENI, VIP},
    to_v4, Maps,
};

/// Kills the HTTP server when the demo ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn step(s: &str) {
    println!("\n== {s}");
}

fn main() -> Result<()> {
    step("building the topology: vpc1 and vpc2 (both 10.0.0.0/24), gateway with XDP, provider with VIP 192.0.2.10");
    let t = Topology::new();
    println!("namespaces: {} {} {} {}", t.vpcs[0].name, t.vpcs[1].name, t.gw.name, t.provider.name);
    println!("XDP program attached to c1, c2 (consumer VPCs) and p0 (provider); maps pinned at {}", t.pin_dir.display());

    step(&format!("starting a real HTTP server on the load balancer VIP {VIP}:80 (python3 http.server)"));
    let server = Server(
        Command::new("ip")
            .args(["netns", "exec", &t.provider.name, "python3", "-m", "http.server", "80", "--bind", &VIP.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start python3 http.server")?,
    );
    sleep(Duration::from_millis(800));

    for vpc in &t.vpcs {
        step(&format!("{}: curl http://{ENI}/ (the ENI address)", vpc.name));
        let out = Command::new("ip")
            .args(["netns", "exec", &vpc.name, "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "HTTP %{http_code}, %{size_download} bytes from %{remote_ip}\n"])
            .arg(format!("http://{ENI}/"))
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            bail!("curl through the ENI failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        step(&format!("{}: ping {ENI} (answered by the XDP program)", vpc.name));
        let ping = Command::new("ip").args(["netns", "exec", &vpc.name, "ping", "-c", "1", "-W", "2", &ENI.to_string()]).output()?;
        print!("{}", String::from_utf8_lossy(&ping.stdout).lines().nth(1).map(|l| format!("{l}\n")).unwrap_or_default());
    }
    println!("(the HTTP server above logged each request's source: a SNAT address, never 10.0.0.5)");
    drop(server);

    show(&t.maps())?;
    step("done: the namespaces and pins are removed now");
    Ok(())
}

fn show(m: &Maps) -> Result<()> {
    step("ENIS: (VPC, address) -> ENI index; ZONE_CONNS: ENI index -> state and VIP");
    for item in m.enis.iter() {
        let (k, idx) = item?;
        let zc = m.zone_conn(idx)?;
        let s = m.eni_stats(idx)?;
        println!(
            "  vpc {} {:<15} eni#{idx}  state {}  vip {:<15}  fwd {} pkts {} B  rev {} pkts {} B",
            k.vpc,
            to_v4(&k.addr),
            if zc.state == 1 { "connected" } else { "disconnected" },
            to_v4(&zc.vip),
            s.fwd_packets,
            s.fwd_bytes,
            s.rev_packets,
            s.rev_bytes
        );
    }
    step("CT_FWD / CT_REV: one row per flow (consumer view -> provider view)");
    for f in m.flows()? {
        println!(
            "  vpc {} {}:{} -> {}:{}  becomes  {}:{} -> {}:{}  eni#{}  reverse {}",
            f.key.scope,
            to_v4(&f.key.src),
            u16::from_be(f.key.sport_be),
            to_v4(&f.key.dst),
            u16::from_be(f.key.dport_be),
            to_v4(&f.fwd.nat_src),
            u16::from_be(f.fwd.nat_sport_be),
            to_v4(&f.fwd.nat_dst),
            u16::from_be(f.key.dport_be),
            f.fwd.eni,
            if f.rev.is_some() { "present" } else { "missing" },
        );
    }
    step("GLOBAL_STATS: every packet's outcome");
    let g = m.global_stats()?;
    for o in Outcome::ALL {
        if g[o as usize] > 0 {
            println!("  {:<24} {}", o.name(), g[o as usize]);
        }
    }
    Ok(())
}
