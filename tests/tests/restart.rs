//! Restart and upgrade without loss (issue 4, scope 4): the real `eplinkd` is stopped with
//! SIGTERM and started again in the middle of a long TCP transfer through an ENI. The pinned
//! link keeps the program attached while no daemon runs, the new daemon adopts the pinned
//! maps (writing nothing) and swaps its own program in behind the same links
//! (`BPF_LINK_UPDATE`), and the flow keeps its NAT binding throughout. Needs root; builds and
//! removes its own namespaces and pins.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread::sleep,
    time::{Duration, Instant},
};

use eplink_dataplane::abi::{FlowKey, FwdEntry, Outcome};
use eplink_tests::{
    gateway::{Gateway, ENI_A, ENI_B},
    in_ns,
};

const PORT: u16 = 7100;
/// The transfer's length; the daemon is restarted twice inside it.
const TRANSFER: Duration = Duration::from_secs(8);
/// Interfaces the inventory attaches the program to.
const IFACES: [&str; 4] = ["c1", "c2", "p0", "p1"];
const REPLACED: &str = "replaced the program behind the pinned link";
const FIRST_RECONCILE: &str = "first reconcile done";

/// The byte stream is `i % PERIOD` at offset `i`, so the receiver can check every byte;
/// `CHUNK` is a multiple of `PERIOD`, so whole chunks keep the phase.
const PERIOD: usize = 251;
const CHUNK: usize = PERIOD * 256;

fn pattern(len: usize) -> Vec<u8> {
    #[expect(clippy::cast_possible_truncation, reason = "i % 251 fits a byte")]
    (0..len).map(|i| (i % PERIOD) as u8).collect()
}

/// The forward flow whose client port is `sport`.
fn flow(g: &Gateway, sport: u16) -> Option<(FlowKey, FwdEntry)> {
    g.topo.maps().ct_fwd.iter().filter_map(Result::ok).find(|(k, _)| u16::from_be(k.sport_be) == sport && u16::from_be(k.dport_be) == PORT)
}

/// (link id, program id) of the pinned link of each interface, as bpftool sees it.
fn links(g: &Gateway) -> Vec<(u64, u64)> {
    IFACES
        .iter()
        .map(|i| {
            let pin = g.topo.pin_dir.join("links").join(i);
            let out = std::process::Command::new("bpftool").args(["-j", "link", "show", "pinned"]).arg(&pin).output().expect("bpftool");
            assert!(out.status.success(), "bpftool link show pinned {}: {}", pin.display(), String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool json");
            (v["id"].as_u64().expect("link id"), v["prog_id"].as_u64().expect("prog id"))
        })
        .collect()
}

/// Packets the program counted per outcome, summed over CPUs.
fn outcomes(g: &Gateway) -> [u64; eplink_dataplane::abi::OUTCOME_COUNT] {
    g.topo.maps().global_stats().expect("global stats")
}

/// Drop and error counters of the veths on the transfer's path (`ethtool -S`), keyed
/// `ns-role/dev/counter`: where the retransmitted segments were lost, if not in XDP.
fn veth_losses(g: &Gateway) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (role, ns, dev) in [("gw", &g.topo.gw, "c1"), ("gw", &g.topo.gw, "p0"), ("provider", &g.topo.provider, "pp0"), ("vpc1", &g.topo.vpcs[0], "eth0")] {
        let o = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "ethtool", "-S", dev]).output().expect("ethtool");
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let Some((k, v)) = line.trim().split_once(':') else { continue };
            if k.contains("drops") || k.contains("errors") {
                out.insert(format!("{role}/{dev}/{k}"), v.trim().parse().unwrap_or(0));
            }
        }
    }
    out
}

/// The TCP counters that explain retransmissions (`nstat`), for the sender's and the
/// receiver's namespaces, keyed `ns-role/counter`.
fn tcp_counters(g: &Gateway) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (role, ns) in [("vpc1", &g.topo.vpcs[0]), ("provider", &g.topo.provider)] {
        let dump = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "nstat", "-asz"]).output().expect("nstat");
        for line in String::from_utf8_lossy(&dump.stdout).lines() {
            let mut fields = line.split_whitespace();
            let (Some(name), Some(value)) = (fields.next(), fields.next()) else { continue };
            if ["Retrans", "Loss", "Timeout", "Drop", "OFO", "Spurious", "Reorder", "Recovery"].iter().any(|w| name.contains(w)) {
                out.insert(format!("{role}/{name}"), value.parse().unwrap_or(0));
            }
        }
    }
    out
}

/// Nonzero growth of each counter, as `name=delta`.
fn growth(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    let d: Vec<String> = after
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| format!("{k}={d}"))
        })
        .collect();
    if d.is_empty() { "none".into() } else { d.join(" ") }
}

/// Accepts one connection on every provider address, checks every byte of the pattern and,
/// at the client's end of stream, answers with the byte count. Returns the count.
fn receiver(g: &Gateway, received: Arc<AtomicU64>) -> std::thread::JoinHandle<Result<u64, String>> {
    let (tx, rx) = mpsc::channel();
    let h = in_ns(&g.topo.provider, move || {
        let l = TcpListener::bind(("0.0.0.0", PORT)).map_err(|e| e.to_string())?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        tx.send(()).ok();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("no connection: {e}")),
            }
        };
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let expect = pattern(2 * CHUNK);
        let mut buf = vec![0u8; CHUNK];
        let mut total: u64 = 0;
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(format!("receive after {total} bytes: {} ({e})", e.kind())),
            };
            #[expect(clippy::cast_possible_truncation, reason = "a remainder of 251")]
            let phase = (total % PERIOD as u64) as usize;
            if buf[..n] != expect[phase..phase + n] {
                return Err(format!("corrupt bytes at offset {total}"));
            }
            total += n as u64;
            received.store(total, Ordering::Relaxed);
        }
        s.write_all(&total.to_le_bytes()).map_err(|e| e.to_string())?;
        Ok(total)
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("receiver listening");
    h
}

/// What the sender saw.
#[derive(Debug)]
struct Sent {
    bytes: u64,
    /// The receiver's count, sent back after our end of stream.
    acked: u64,
    /// `tcpi_total_retrans` of the sending socket.
    retrans: u32,
}

/// Sends the pattern from VPC 1 to `ENI_A` until `stop`, then half-closes and reads the
/// receiver's count. Reports its local port as soon as it is connected, and its socket's
/// retransmissions so far after every chunk.
fn sender(g: &Gateway, stop: Arc<AtomicBool>, retrans: Arc<AtomicU64>, port_tx: mpsc::Sender<u16>) -> std::thread::JoinHandle<Result<Sent, String>> {
    in_ns(&g.topo.vpcs[0], move || {
        let mut s = TcpStream::connect_timeout(&SocketAddr::from((ENI_A, PORT)), Duration::from_secs(3)).map_err(|e| e.to_string())?;
        port_tx.send(s.local_addr().map_err(|e| e.to_string())?.port()).ok();
        s.set_write_timeout(Some(Duration::from_secs(10))).ok();
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let chunk = pattern(CHUNK);
        let mut bytes = 0u64;
        while !stop.load(Ordering::Relaxed) {
            s.write_all(&chunk).map_err(|e| format!("send after {bytes} bytes: {} ({e})", e.kind()))?;
            bytes += CHUNK as u64;
            retrans.store(u64::from(total_retrans(&s)), Ordering::Relaxed);
        }
        s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
        let mut count = [0u8; 8];
        s.read_exact(&mut count).map_err(|e| format!("reading the receiver's count: {} ({e})", e.kind()))?;
        Ok(Sent { bytes, acked: u64::from_le_bytes(count), retrans: total_retrans(&s) })
    })
}

fn total_retrans(s: &TcpStream) -> u32 {
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = u32::try_from(std::mem::size_of::<libc::tcp_info>()).expect("small");
        let rc = libc::getsockopt(s.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, (&raw mut info).cast(), &raw mut len);
        assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
        info.tcpi_total_retrans
    }
}

/// The daemon's "first reconcile done" lines so far (one per daemon started).
fn first_reconciles(g: &Gateway) -> Vec<String> {
    g.log().lines().filter(|l| l.contains(FIRST_RECONCILE)).map(str::to_owned).collect()
}


/// SIGTERM, a pause with no daemon at all, and a new daemon; checks that forwarding never
/// stopped, that the new daemon replaced the program behind every pinned link, and that its
/// first reconcile over the adopted maps wrote nothing and flushed nothing.
fn restart(g: &mut Gateway, received: &AtomicU64) {
    let links_before = links(g);
    let (replaced, runs) = (g.log().matches(REPLACED).count(), first_reconciles(g).len());
    g.stop();
    let r0 = received.load(Ordering::Relaxed);
    sleep(Duration::from_millis(700));
    assert!(received.load(Ordering::Relaxed) > r0, "the transfer stalled while no daemon ran");
    g.start();
    g.wait_for("the new daemon's first reconcile", || first_reconciles(g).len() > runs);
    let line = first_reconciles(g).pop().expect("line");
    assert!(line.contains("writes=0 flushed=0"), "adopting equal maps writes nothing: {line}");
    assert_eq!(g.log().matches(REPLACED).count(), replaced + IFACES.len(), "every link updated in place:\n{}", g.log());
    let links_after = links(g);
    for ((iface, before), after) in IFACES.iter().zip(&links_before).zip(&links_after) {
        assert_eq!(before.0, after.0, "{iface}: the same link (never detached)");
        assert_ne!(before.1, after.1, "{iface}: a new program behind the link");
    }
}

#[test]
fn restart_mid_transfer_keeps_the_flow_and_every_byte() {
    let mut g = Gateway::new();
    g.start();
    g.seed_connected();
    let received = Arc::new(AtomicU64::new(0));
    let retrans = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rx_thread = receiver(&g, Arc::clone(&received));
    let (port_tx, port_rx) = mpsc::channel();
    let t0 = Instant::now();
    let tx_thread = sender(&g, Arc::clone(&stop), Arc::clone(&retrans), port_tx);
    let sport = port_rx.recv_timeout(Duration::from_secs(5)).expect("sender connected");
    g.wait_for("the flow in CT_FWD", || flow(&g, sport).is_some());
    let (key, binding) = flow(&g, sport).expect("flow");
    let flows_before = g.topo.maps().ct_fwd.keys().count();
    let outcomes_before = outcomes(&g);
    let veth_before = veth_losses(&g);
    let tcp_before = tcp_counters(&g);
    sleep(Duration::from_secs(1));

    // Retransmissions inside each restart window (SIGTERM to the new daemon's first
    // reconcile), to set against the rest of the transfer.
    let mut windows = Vec::new();
    for _ in 0..2 {
        let (r, t) = (retrans.load(Ordering::Relaxed), Instant::now());
        restart(&mut g, &received);
        windows.push((retrans.load(Ordering::Relaxed) - r, t.elapsed()));
        sleep(Duration::from_millis(800));
    }

    let (key_after, binding_after) = flow(&g, sport).expect("the flow survived both restarts");
    assert_eq!(key_after, key);
    assert_eq!(
        (binding_after.nat_src, binding_after.nat_dst, binding_after.nat_sport_be, binding_after.eni, binding_after.generation),
        (binding.nat_src, binding.nat_dst, binding.nat_sport_be, binding.eni, binding.generation),
        "the flow kept its SNAT binding"
    );
    assert!(g.topo.maps().ct_fwd.keys().count() >= flows_before, "no flow lost");
    sleep(TRANSFER.saturating_sub(t0.elapsed()));
    stop.store(true, Ordering::Relaxed);

    let sent = tx_thread.join().expect("sender thread").unwrap_or_else(|e| panic!("sender: {e}\n{}", g.log()));
    let got = rx_thread.join().expect("receiver thread").unwrap_or_else(|e| panic!("receiver: {e}"));
    assert_eq!(got, sent.bytes, "the receiver got every byte");
    assert_eq!(sent.acked, sent.bytes);
    let after = outcomes(&g);
    let drops: Vec<String> = Outcome::ALL
        .iter()
        .filter(|o| (**o as usize) >= Outcome::DropMalformed as usize)
        .filter_map(|o| {
            let d = after[*o as usize] - outcomes_before[*o as usize];
            (d > 0).then(|| format!("{o:?}={d}"))
        })
        .collect();
    let (veth, tcp) = (growth(&veth_before, &veth_losses(&g)), growth(&tcp_before, &tcp_counters(&g)));
    #[expect(clippy::cast_precision_loss, reason = "a report")]
    let mib = sent.bytes as f64 / f64::from(1 << 20);
    let elapsed = t0.elapsed();
    println!(
        "restart mid-transfer: {mib:.0} MiB in {:.1} s through two daemon restarts; {} retransmitted segments in all, \
         {} within the restart windows ({}); XDP drops: {}; veth losses: {veth}; TCP counters: {tcp}",
        elapsed.as_secs_f64(),
        sent.retrans,
        windows.iter().map(|w| w.0).sum::<u64>(),
        windows.iter().map(|(n, d)| format!("{n} in {:.2} s", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
        if drops.is_empty() { "none".to_string() } else { drops.join(" ") },
    );
}

/// An echo server on every provider address, until `stop` is set.
fn serve_echo(g: &Gateway, stop: Arc<AtomicBool>) {
    let (tx, rx) = mpsc::channel();
    in_ns(&g.topo.provider, move || {
        let l = TcpListener::bind(("0.0.0.0", PORT)).expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        tx.send(()).ok();
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).ok();
                    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).unwrap_or(0);
                    s.write_all(&buf[..n]).ok();
                }
                Err(_) => sleep(Duration::from_millis(5)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("server up");
}

/// One request from VPC 1 to `eni` on a new connection (a new flow); the echo or the error.
fn request(g: &Gateway, eni: Ipv4Addr) -> Result<String, String> {
    in_ns(&g.topo.vpcs[0], move || {
        let mut s = TcpStream::connect_timeout(&SocketAddr::from((eni, PORT)), Duration::from_millis(1500)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok();
        s.write_all(b"ping").map_err(|e| e.to_string())?;
        s.shutdown(Shutdown::Write).ok();
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    })
    .join()
    .expect("client thread")
}

#[test]
fn dataplane_forwards_new_flows_while_the_daemon_is_down() {
    let mut g = Gateway::new();
    g.start();
    g.seed_connected();
    let stop = Arc::new(AtomicBool::new(false));
    serve_echo(&g, Arc::clone(&stop));
    assert_eq!(request(&g, ENI_A).as_deref(), Ok("ping"));

    g.stop();
    let flows = g.topo.maps().ct_fwd.keys().count();
    for eni in [ENI_A, ENI_B] {
        assert_eq!(request(&g, eni).as_deref(), Ok("ping"), "{eni} forwards with no daemon running");
    }
    assert_eq!(g.topo.maps().ct_fwd.keys().count(), flows + 2, "the program alone created both flows");

    g.start();
    for eni in [ENI_A, ENI_B] {
        assert_eq!(request(&g, eni).as_deref(), Ok("ping"), "{eni} forwards after the restart");
    }
    stop.store(true, Ordering::Relaxed);
}
