//! The product end to end: the real `eplinkd` in a gateway namespace, driven by the real
//! `eplink` CLI, loading the connection table into the XDP program that carries real TCP
//! between namespaces. Needs root; builds and removes its own namespaces and pins.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use eplink_dataplane::abi::ZONE_CONNECTED;
use eplink_tests::{
    gateway::{Gateway, CONSUMER1, ENI_A, ENI_B, HEALTH_CHECKS, PROVIDER, ZONE_A},
    in_ns,
};

const PORT: u16 = 7000;

/// An echo-with-peer server on every provider address, until `stop` is set.
fn serve(g: &Gateway, stop: Arc<AtomicBool>) {
    let (tx, rx) = std::sync::mpsc::channel();
    in_ns(&g.topo.provider, move || {
        let l = TcpListener::bind(("0.0.0.0", PORT)).expect("bind");
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, peer)) => {
                    s.set_nonblocking(false).ok();
                    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let local = s.local_addr().map(|a| a.ip().to_string()).unwrap_or_default();
                    let msg = format!("{} via {local} from {peer}", String::from_utf8_lossy(&buf[..n]));
                    s.write_all(msg.as_bytes()).ok();
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("server up");
}

/// One request from VPC 1 to `eni`: the reply ("hi via <VIP> from <SNAT>"), or the error.
fn request(g: &Gateway, eni: Ipv4Addr) -> Result<String, String> {
    in_ns(&g.topo.vpcs[0], move || {
        let mut s = TcpStream::connect_timeout(&SocketAddr::from((eni, PORT)), Duration::from_millis(1500)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok();
        s.write_all(b"hi").map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    })
    .join()
    .expect("client thread")
}

#[test]
fn r15_traffic_flows_only_after_allow_and_follows_zone_state() {
    let mut g = Gateway::new();
    g.start();
    let stop = Arc::new(AtomicBool::new(false));
    serve(&g, Arc::clone(&stop));
    let (svc, ep) = g.seed();

    // Awaiting the provider: the ENIs exist (published, answering ARP) but forward nothing.
    g.wait_for("ENIs published", || g.topo.maps().enis.keys().count() == 2);
    assert!(request(&g, ENI_A).is_err(), "no traffic before the provider allows the connection");

    g.eplink(PROVIDER, &["connection", "allow", &svc, &ep]);
    g.wait_for("zone A connected", || g.topo.maps().zone_conns.iter().filter_map(Result::ok).filter(|z| z.state == ZONE_CONNECTED).count() == 2);
    let r = request(&g, ENI_A).expect("zone A forwards after allow");
    assert!(r.starts_with("hi via 192.0.2.10 from 100.64.0."), "{r}");
    let r = request(&g, ENI_B).expect("zone B forwards after allow");
    assert!(r.starts_with("hi via 192.0.2.30 from 100.64.1."), "{r}");

    // Disconnecting zone A stops it (and flushes its flows); zone B is untouched.
    g.eplink(PROVIDER, &["zone-connection", "disable", &svc, &ep, ZONE_A]);
    g.wait_for("zone A disconnected", || request(&g, ENI_A).is_err());
    assert!(g.topo.maps().flows().unwrap().iter().all(|f| f.fwd.eni != first_eni(&g, ENI_A)), "zone A flows flushed");
    assert!(request(&g, ENI_B).is_ok(), "zone B unaffected");

    g.eplink(PROVIDER, &["zone-connection", "enable", &svc, &ep, ZONE_A]);
    g.wait_for("zone A restored", || request(&g, ENI_A).is_ok());

    // The daemon's Prometheus endpoint: per-ENI traffic named by endpoint and zone, drops by
    // reason, and the reconciler's own health.
    let m = metrics(&g);
    assert!(m.contains("eplink_eni_packets_total{eni=") && m.contains(&ep), "per-ENI counters named by endpoint");
    assert!(m.contains("reason=\"drop_zone_not_connected\""), "drops by reason");
    for gauge in ["eplink_reconcile_lag_seconds ", "eplink_reconcile_errors_total 0", "eplink_flows"] {
        assert!(m.contains(gauge), "{gauge} missing from /metrics:\n{m}");
    }

    // Deleting the endpoint leaves nothing behind in the maps.
    g.eplink(PROVIDER, &["connection", "reject", &svc, &ep]);
    g.eplink(CONSUMER1, &["endpoint", "delete", &ep]);
    g.wait_for("endpoint gone from the maps", || {
        let m = g.topo.maps();
        m.enis.keys().count() == 0 && m.flows().unwrap().is_empty() && m.ct_rev.keys().count() == 0
    });
    assert!(request(&g, ENI_A).is_err());
    stop.store(true, Ordering::Relaxed);
}

/// `GET /metrics` from the daemon, inside the gateway namespace.
fn metrics(g: &Gateway) -> String {
    let out = g
        .in_gw(std::path::Path::new("/usr/bin/curl"))
        .args(["-sS", "-m", "5", &format!("http://127.0.0.1:{}/metrics", g.metrics_port)])
        .output()
        .expect("curl");
    assert!(out.status.success(), "metrics endpoint: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ENI index behind an address of VPC 1.
fn first_eni(g: &Gateway, addr: Ipv4Addr) -> u32 {
    g.topo
        .maps()
        .enis
        .iter()
        .filter_map(Result::ok)
        .find(|(k, _)| k.vpc == 1 && eplink_dataplane::to_v4(&k.addr) == addr)
        .map_or(u32::MAX, |(_, i)| i)
}

/// Runs `eplinkd` on an edited copy of the gateway's inventory and returns its failure text.
fn start_fails(g: &Gateway, edit: impl Fn(String) -> String) -> String {
    let text = edit(std::fs::read_to_string(&g.inventory).expect("inventory"));
    let path = g.dir.join("broken.toml");
    std::fs::write(&path, text).expect("write inventory");
    let out = g
        .in_gw(&eplink_tests::gateway::bin("eplinkd"))
        .arg("--inventory")
        .arg(&path)
        .output()
        .expect("run eplinkd");
    assert!(!out.status.success(), "eplinkd must refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn startup_names_a_missing_interface() {
    let g = Gateway::new();
    let err = start_fails(&g, |t| t.replace("gateway_interface = \"c1\"", "gateway_interface = \"nosuch0\""));
    assert!(err.contains("\"nosuch0\"") && err.contains("vpcs[0].gateway_interface"), "{err}");
}

#[test]
fn startup_explains_a_pin_dir_outside_bpffs() {
    let g = Gateway::new();
    let dir = g.dir.join("not-bpffs");
    let err = start_fails(&g, |t| {
        let pin = t.lines().find(|l| l.starts_with("pin_dir")).expect("pin_dir line").to_string();
        t.replace(&pin, &format!("pin_dir = \"{}\"", dir.display()))
    });
    assert!(err.contains("not on a mounted bpffs"), "{err}");
}

#[test]
fn idle_flows_are_swept_by_their_own_timeouts() {
    let mut g = Gateway::new();
    let inv = std::fs::read_to_string(&g.inventory).unwrap().replace(
        "reconcile_interval_ms = 1000",
        "reconcile_interval_ms = 300\nudp_timeout_s = 1\ntcp_closing_timeout_s = 1\ntcp_established_timeout_s = 3600",
    );
    std::fs::write(&g.inventory, inv).unwrap();
    g.start();
    let stop = Arc::new(AtomicBool::new(false));
    serve(&g, Arc::clone(&stop));
    let (svc, ep) = g.seed();
    g.eplink(PROVIDER, &["connection", "allow", &svc, &ep]);
    g.wait_for("zone A forwarding", || request(&g, ENI_A).is_ok());

    // A TCP connection left open and idle (established), a UDP exchange.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop2 = Arc::clone(&stop);
    in_ns(&g.topo.provider, move || {
        let l = TcpListener::bind(("0.0.0.0", 7001)).unwrap();
        // Bound to the VIP: a wildcard UDP socket would answer from the provider link address.
        let u = std::net::UdpSocket::bind(("192.0.2.10", 7002)).unwrap();
        u.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        ready_tx.send(()).unwrap();
        let conn = l.accept();
        let mut buf = [0u8; 16];
        if let Ok((n, peer)) = u.recv_from(&mut buf) {
            u.send_to(&buf[..n], peer).ok();
        }
        while !stop2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(conn);
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let held = in_ns(&g.topo.vpcs[0], move || {
        let s = TcpStream::connect_timeout(&SocketAddr::from((ENI_A, 7001)), Duration::from_secs(3));
        hold_rx.recv().ok();
        s.is_ok()
    });
    let udp_ok = in_ns(&g.topo.vpcs[0], || {
        let s = std::net::UdpSocket::bind(("10.0.0.5", 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(b"ping", (ENI_A, 7002)).unwrap();
        let mut buf = [0u8; 16];
        s.recv_from(&mut buf).is_ok()
    })
    .join()
    .unwrap();
    assert!(udp_ok, "UDP through the ENI");
    let ports = |proto: u8| -> Vec<u16> {
        g.topo.maps().flows().unwrap().iter().filter(|f| f.key.proto() == proto).map(|f| u16::from_be(f.key.dport_be)).collect()
    };
    assert!(ports(17).contains(&7002) && ports(6).contains(&7001), "both flows tracked");

    // UDP (1 s) and closed TCP (1 s) flows go; the idle established TCP flow (1 h) stays.
    g.wait_for("the UDP and closed TCP flows to expire", || !ports(17).contains(&7002) && !ports(6).contains(&PORT));
    assert!(ports(6).contains(&7001), "an idle established TCP flow is kept until its own timeout");
    hold_tx.send(()).ok();
    assert!(held.join().unwrap());
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn r24_a_failed_resource_hands_its_zone_connection_to_a_healthy_one_and_traffic_follows() {
    let mut g = Gateway::new();
    g.probe_health(200);
    let downs: Vec<Arc<AtomicBool>> = HEALTH_CHECKS.iter().map(|_| Arc::new(AtomicBool::new(false))).collect();
    for ((_, _, vip, port), down) in HEALTH_CHECKS.iter().zip(&downs) {
        g.health_listener(SocketAddr::from((*vip, *port)), Arc::clone(down));
    }
    g.start();
    let stop = Arc::new(AtomicBool::new(false));
    serve(&g, Arc::clone(&stop));

    // Zone A has two resources; the endpoint's zone A connection gets one of them.
    let svc = g.eplink(
        PROVIDER,
        &["service", "create", "--type", "nlb", "--resource", "nlb-a1@cn-hangzhou-a", "--resource", "nlb-a2@cn-hangzhou-a", "--resource", "nlb-b1@cn-hangzhou-b"],
    );
    let svc = eplink_tests::gateway::field(&svc, "ServiceId").to_string();
    g.eplink(PROVIDER, &["whitelist", "add", &svc, CONSUMER1.0]);
    let ep = g.eplink(
        CONSUMER1,
        &["endpoint", "create", "--service", &svc, "--vpc", "vpc-c1", "--sg", "sg-c1", "--zone", &format!("{ZONE_A}:vsw-c1a:{ENI_A}")],
    );
    let ep = eplink_tests::gateway::field(&ep, "EndpointId").to_string();
    g.eplink(PROVIDER, &["connection", "allow", &svc, &ep]);
    g.wait_for("zone A forwarding", || request(&g, ENI_A).is_ok());
    let reply = request(&g, ENI_A).unwrap();
    let (failing, healthy) = if reply.contains("via 192.0.2.10 ") { (0, 1) } else { (1, 0) };
    assert!(reply.contains(&format!("via {} ", HEALTH_CHECKS[failing].2)), "{reply}");

    // The allocated load balancer stops answering its health check: after `fall` failed
    // rounds its zone connection moves to the other one, and new connections follow.
    downs[failing].store(true, Ordering::Relaxed);
    let moved_to = format!("via {} ", HEALTH_CHECKS[healthy].2);
    g.wait_for("zone A moved to the healthy resource", || request(&g, ENI_A).is_ok_and(|r| r.contains(&moved_to)));
    assert!(g.log().contains("resource health changed"), "{}", g.log());
    stop.store(true, Ordering::Relaxed);
    for d in &downs {
        d.store(true, Ordering::Relaxed);
    }
}
