//! `bench-xdp` (run by `cargo xtask bench xdp`): the XDP program's per-packet cost, measured by the kernel with `BPF_PROG_TEST_RUN`.
//!
//! `test_run` repeats a program over the *same* buffer, and eplink rewrites packets, so a
//! plain repeat would measure one forward and then a million pass-throughs. The established
//! and reverse benchmarks therefore use two flows that translate into each other: flow A's
//! output is flow B's input and back, so every one of the 2,000,000 runs is a genuine
//! established-flow (or reply) translation, redirect included. Established packets are
//! served by the per-CPU flow cache (see `ebpf/src/fast.rs`); the `*_uncached_*` figures
//! repeat the same measurement with the cache off, every packet a flow-table lookup. Each
//! repeated figure is the median of `ROUNDS` interleaved rounds.
//!
//! A new flow cannot repeat on one buffer (its output is a new flow only once), so
//! `forward_new_flow_ns` runs 1,000,000 distinct packets one call each and subtracts the
//! per-call timer overhead, measured as the baseline's one-call cost minus its repeated cost.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use eplink_dataplane::{
    abi::{self, FlowKey, FwdEntry, Outcome, RevEntry},
    fixture::{self, frame, topo::zone_conn, GatewayNs, CLIENT_MAC, GW_CONSUMER_MAC, NEXT_HOP, NEXT_HOP_MAC},
    v4, Dataplane, LoadOptions,
};

use eplink_tests::report;

const REPEAT: u32 = 2_000_000;
/// Rounds of the three repeated measurements (forward, reverse, baseline), interleaved.
const ROUNDS: usize = 5;
const NEW_FLOWS: u32 = 1_000_000;
const CHUNK: u32 = 100_000;
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const ENI: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SNAT: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const CPORT: u16 = 40_000;
const SPORT: u16 = 50_000;
/// ENI of the consumer; `ENI_B` is the VIP made an ENI too, so the ping-pong closes.
const ENI_A: u32 = 7;
const ENI_B: u32 = 8;

struct Bench {
    _in: fixture::Entered,
    dp: Dataplane,
    pin: PathBuf,
    gw: GatewayNs,
}

impl Drop for Bench {
    fn drop(&mut self) {
        Dataplane::remove_pins(&self.pin).ok();
    }
}

fn key(scope: u32, src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> FlowKey {
    FlowKey::new(scope, abi::flow::PROTO_TCP, (src.0.octets(), src.1.to_be()), (dst.0.octets(), dst.1.to_be()))
}

fn fwd(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, eni: u32) -> FwdEntry {
    FwdEntry { nat_src: v4(src), nat_dst: v4(dst), nat_sport_be: sport.to_be(), eni, generation: 1, ..FwdEntry::default() }
}

fn rev(client: (Ipv4Addr, u16), eni_addr: Ipv4Addr, eni: u32, ifindex: u32) -> RevEntry {
    RevEntry {
        client: v4(client.0),
        client_port_be: client.1.to_be(),
        eni_addr: v4(eni_addr),
        eni,
        generation: 1,
        ifindex,
        client_mac: CLIENT_MAC,
        gateway_mac: GW_CONSUMER_MAC,
        ..RevEntry::default()
    }
}

impl Bench {
    fn new() -> Result<Bench> {
        let gw = GatewayNs::new();
        // The ping-pong's second leg is addressed to the ENI address: route it like a VIP.
        gw.ns.exec(&["ip", "route", "add", "10.0.0.0/24", "via", &NEXT_HOP.to_string(), "dev", "p0"]);
        let pin = PathBuf::from("/sys/fs/bpf").join(fixture::unique("eplbench"));
        let entered = gw.ns.enter();
        let dp = Dataplane::load(&LoadOptions::new(&pin)).context("load the XDP program")?;
        let mut b = Bench { _in: entered, dp, pin, gw };
        let (c, p) = (b.gw.consumer_if, b.gw.provider_if);
        let m = b.dp.maps_mut();
        m.set_consumer_iface(c, 0, 1, p)?;
        m.set_provider_iface(p)?;
        let pool: Vec<Ipv4Addr> = (1..=8).map(|i| Ipv4Addr::new(100, 64, 0, i)).collect();
        m.set_snat_pool(0, &pool)?;
        m.set_zone_conn(ENI_A, &zone_conn(abi::ZONE_CONNECTED, VIP, 0))?;
        m.set_eni(1, IpAddr::V4(ENI), ENI_A)?;
        m.set_zone_conn(ENI_B, &zone_conn(abi::ZONE_CONNECTED, ENI, 0))?;
        m.set_eni(1, IpAddr::V4(VIP), ENI_B)?;
        // Forward ping-pong: A (client → ENI) becomes (SNAT → VIP) = B, which becomes A.
        m.ct_fwd.insert(key(1, (CLIENT, CPORT), (ENI, 80)), fwd(SNAT, SPORT, VIP, ENI_A), 0)?;
        m.ct_fwd.insert(key(1, (SNAT, SPORT), (VIP, 80)), fwd(CLIENT, CPORT, ENI, ENI_B), 0)?;
        // Reverse ping-pong: (VIP → SNAT) becomes (ENI → client), which becomes (VIP → SNAT).
        m.ct_rev.insert(key(0, (VIP, 80), (SNAT, SPORT)), rev((CLIENT, CPORT), ENI, ENI_A, c), 0)?;
        m.ct_rev.insert(key(0, (ENI, 80), (CLIENT, CPORT)), rev((SNAT, SPORT), VIP, ENI_B, c), 0)?;
        Ok(b)
    }

    /// Deletes every flow but the four ping-pong entries.
    fn flush_new_flows(&mut self) -> Result<()> {
        let m = self.dp.maps_mut();
        let pingpong = [
            key(1, (CLIENT, CPORT), (ENI, 80)),
            key(1, (SNAT, SPORT), (VIP, 80)),
            key(0, (VIP, 80), (SNAT, SPORT)),
            key(0, (ENI, 80), (CLIENT, CPORT)),
        ];
        let keep = |k: &FlowKey| pingpong.contains(k);
        let fwd: Vec<FlowKey> = m.ct_fwd.keys().filter_map(Result::ok).filter(|k| !keep(k)).collect();
        for k in fwd {
            m.ct_fwd.remove(&k)?;
        }
        let rev: Vec<FlowKey> = m.ct_rev.keys().filter_map(Result::ok).filter(|k| !keep(k)).collect();
        for k in rev {
            m.ct_rev.remove(&k)?;
        }
        Ok(())
    }

    fn outcomes(&self) -> Result<[u64; abi::OUTCOME_COUNT]> {
        Ok(self.dp.maps().global_stats()?)
    }

    /// ns/packet of `REPEAT` runs of the pipeline on `frame`, checking every run ended in `want`.
    fn repeated(&mut self, frame: &[u8], ifindex: u32, want: Outcome) -> Result<f64> {
        let before = self.outcomes()?[want as usize];
        let r = fixture::run(self.dp.program()?, frame, ifindex, REPEAT)?;
        let after = self.outcomes()?[want as usize];
        ensure!(after - before == u64::from(REPEAT), "only {} of {REPEAT} runs ended {}", after - before, want.name());
        ensure!(r.action == fixture::XDP_REDIRECT, "unexpected action {}", r.action);
        Ok(ns(r.ns))
    }
}

/// Nanoseconds as a float (durations here are far below 2^52 ns).
#[expect(clippy::cast_precision_loss, reason = "durations far below 2^52 ns")]
fn ns(d: u64) -> f64 {
    d as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean_ns_per_call(mut one: impl FnMut(u32) -> Result<u64>, calls: u32) -> Result<f64> {
    let mut total = 0u64;
    for i in 0..calls {
        total += one(i)?;
    }
    Ok(ns(total) / f64::from(calls))
}

fn main() -> Result<()> {
    let mut bench = Bench::new()?;
    let (consumer, provider) = (bench.gw.consumer_if, bench.gw.provider_if);
    let macs = (CLIENT_MAC, GW_CONSUMER_MAC);
    let established = frame::tcp(macs, (CLIENT, CPORT), (ENI, 80), frame::ACK, &[0u8; 10]);
    let reply = frame::tcp((NEXT_HOP_MAC, fixture::GW_PROVIDER_MAC), (VIP, 80), (SNAT, SPORT), frame::ACK, &[0u8; 10]);

    // Interleaved rounds, each metric the median of its rounds: a burst of noise from the
    // rest of the machine lands in one round of one metric, not in the ratio.
    // The uncached rounds turn the per-CPU flow cache off, so every packet looks its flow
    // up in the flow table: the cost of a flow the cache does not hold.
    let (mut fwd_rounds, mut rev_rounds, mut base_rounds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fwd_uncached, mut rev_uncached) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        fwd_rounds.push(bench.repeated(&established, consumer, Outcome::Forwarded)?);
        rev_rounds.push(bench.repeated(&reply, provider, Outcome::Reversed)?);
        let base = fixture::run(bench.dp.baseline()?, &established, consumer, REPEAT)?;
        ensure!(base.action == fixture::XDP_REDIRECT, "baseline action {}", base.action);
        base_rounds.push(ns(base.ns));
        bench.dp.maps_mut().set_flow_cache(false)?;
        fwd_uncached.push(bench.repeated(&established, consumer, Outcome::Forwarded)?);
        rev_uncached.push(bench.repeated(&reply, provider, Outcome::Reversed)?);
        bench.dp.maps_mut().set_flow_cache(true)?;
    }
    let (forward_established_ns, reverse_ns, baseline_redirect_ns) =
        (median(&mut fwd_rounds), median(&mut rev_rounds), median(&mut base_rounds));
    let (forward_uncached_ns, reverse_uncached_ns) = (median(&mut fwd_uncached), median(&mut rev_uncached));
    let baseline = bench.dp.baseline()?;
    let baseline_call_ns = mean_ns_per_call(|_| Ok(fixture::run(baseline, &established, consumer, 1)?.ns), NEW_FLOWS)?;
    let call_overhead_ns = (baseline_call_ns - baseline_redirect_ns).max(0.0);

    // Distinct flows: every packet a new (client address, source port). One VIP:port has
    // 8 x 64,512 SNAT (address, port) pairs, so the tables are emptied (untimed) every
    // CHUNK flows: each chunk measures creation into a table filling from empty to CHUNK.
    let before = bench.outcomes()?[Outcome::Forwarded as usize];
    let mut total_ns = 0.0;
    for chunk in 0..NEW_FLOWS / CHUNK {
        let prog = bench.dp.program()?;
        total_ns += mean_ns_per_call(
            |i| {
                let flow = chunk * CHUNK + i;
                let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + (flow >> 14));
                let sport = 1024 + (flow & 0x3fff) as u16;
                let syn = frame::tcp(macs, (client, sport), (ENI, 80), frame::SYN, &[0u8; 10]);
                Ok(fixture::run(prog, &syn, consumer, 1)?.ns)
            },
            CHUNK,
        )? * f64::from(CHUNK);
        bench.flush_new_flows()?;
    }
    let new_flow_call_ns = total_ns / f64::from(NEW_FLOWS);
    let created = bench.outcomes()?[Outcome::Forwarded as usize] - before;
    let refused = u64::from(NEW_FLOWS) - created;
    // 8 candidate ports in a table up to 1/5 full: a handful may find all 8 taken.
    ensure!(refused * 1000 < u64::from(NEW_FLOWS), "{refused} of {NEW_FLOWS} new flows were not forwarded");
    let forward_new_flow_ns = new_flow_call_ns - call_overhead_ns;

    report(
        "xdp",
        &[
            ("forward_established_ns", forward_established_ns),
            ("reverse_ns", reverse_ns),
            ("forward_new_flow_ns", forward_new_flow_ns),
            ("baseline_redirect_ns", baseline_redirect_ns),
            ("ratio_forward_vs_baseline", forward_established_ns / baseline_redirect_ns),
            ("ratio_reverse_vs_baseline", reverse_ns / baseline_redirect_ns),
            ("ratio_new_flow_vs_baseline", forward_new_flow_ns / baseline_redirect_ns),
            ("forward_established_uncached_ns", forward_uncached_ns),
            ("reverse_uncached_ns", reverse_uncached_ns),
            ("ratio_forward_uncached_vs_baseline", forward_uncached_ns / baseline_redirect_ns),
            ("new_flow_raw_call_ns", new_flow_call_ns),
            #[expect(clippy::cast_precision_loss, reason = "a count far below 2^52")]
            ("new_flows_refused", refused as f64),
            ("test_run_call_overhead_ns", call_overhead_ns),
        ],
    )?;
    Ok(())
}
