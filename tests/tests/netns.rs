//! The dataplane end to end in real namespaces: real sockets on both sides, the XDP program
//! attached natively to veth interfaces of the gateway.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    process::Command,
    time::Duration,
};

use eplink_dataplane::{
    abi::{Outcome, ZONE_DISCONNECTED},
    fixture::topo::{self, Topology, CLIENT, ENI, ENI_INDEX, SNAT, VIP},
};
use eplink_tests::in_ns;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP server on the VIP that answers each connection with "<request> from <peer>".
fn tcp_server(t: &Topology, port: u16, conns: usize) -> std::thread::JoinHandle<Vec<SocketAddr>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = in_ns(&t.provider, move || {
        let l = TcpListener::bind((VIP, port)).expect("bind VIP");
        tx.send(()).unwrap();
        let mut peers = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..conns {
            let (mut s, peer) = l.accept().expect("accept");
            peers.push(peer);
            workers.push(std::thread::spawn(move || {
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).expect("read request");
                let reply = format!("{} from {peer}", String::from_utf8_lossy(&buf[..n]));
                s.write_all(reply.as_bytes()).expect("write reply");
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
        peers
    });
    rx.recv_timeout(TIMEOUT).expect("server ready");
    h
}

fn tcp_request(msg: &str, port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((ENI, port)), TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.write_all(msg.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn tcp_through_the_eni_reaches_the_service_from_a_snat_address() {
    let t = Topology::new();
    let server = tcp_server(&t, 8080, 1);
    let reply = in_ns(&t.vpcs[0], || tcp_request("hello", 8080)).join().unwrap().expect("TCP exchange");
    let peers = server.join().unwrap();
    let peer = peers[0];
    assert!(reply.starts_with("hello from "), "{reply}");
    let SocketAddr::V4(p) = peer else { panic!("IPv4 peer expected") };
    assert!(SNAT.contains(p.ip()), "the service saw {peer}, not a SNAT address");
    assert_ne!(*p.ip(), CLIENT, "the consumer's address must never reach the provider");
    let st = t.maps().eni_stats(ENI_INDEX).unwrap();
    assert!(st.fwd_packets >= 3 && st.rev_packets >= 2, "{st:?}");
}

#[test]
fn udp_request_and_response_through_the_eni() {
    let t = Topology::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = in_ns(&t.provider, move || {
        let s = UdpSocket::bind((VIP, 5353)).unwrap();
        tx.send(()).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut buf = [0u8; 64];
        let (n, peer) = s.recv_from(&mut buf).expect("datagram");
        s.send_to(format!("{} from {peer}", String::from_utf8_lossy(&buf[..n])).as_bytes(), peer).unwrap();
        peer
    });
    rx.recv_timeout(TIMEOUT).unwrap();
    let reply = in_ns(&t.vpcs[0], || {
        let s = UdpSocket::bind((CLIENT, 0)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.send_to(b"query", (ENI, 5353)).unwrap();
        let mut buf = [0u8; 128];
        let (n, from) = s.recv_from(&mut buf).expect("UDP reply");
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
    })
    .join()
    .unwrap();
    let peer = server.join().unwrap();
    assert_eq!(reply.1, SocketAddr::from((ENI, 5353)), "the reply comes from the ENI address");
    assert!(reply.0.starts_with("query from "));
    let SocketAddr::V4(p) = peer else { panic!() };
    assert!(SNAT.contains(p.ip()));
}

#[test]
fn overlapping_vpcs_each_get_only_their_own_replies() {
    const PER_VPC: usize = 20;
    let t = Topology::new();
    let server = tcp_server(&t, 8081, 2 * PER_VPC);
    let clients: Vec<_> = (0..2)
        .map(|v| {
            in_ns(&t.vpcs[v], move || {
                let workers: Vec<_> = (0..PER_VPC)
                    .map(|i| std::thread::spawn(move || tcp_request(&format!("vpc{v}-conn{i}"), 8081)))
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    for (v, c) in clients.into_iter().enumerate() {
        let replies = c.join().unwrap();
        for (i, r) in replies.into_iter().enumerate() {
            let r = r.expect("TCP exchange");
            assert!(r.starts_with(&format!("vpc{v}-conn{i} from ")), "VPC {v} conn {i} got {r:?}");
        }
    }
    let peers = server.join().unwrap();
    assert_eq!(peers.len(), 2 * PER_VPC);
    let mut unique = peers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), peers.len(), "every flow has its own SNAT address and port");
    let maps = t.maps();
    assert!(maps.eni_stats(ENI_INDEX).unwrap().fwd_packets > 0);
    assert!(maps.eni_stats(ENI_INDEX + 1).unwrap().fwd_packets > 0);
}

#[test]
fn ping_to_the_eni_is_answered() {
    let t = Topology::new();
    for vpc in &t.vpcs {
        let ok = Command::new("ip")
            .args(["netns", "exec", &vpc.name, "ping", "-c", "2", "-W", "2", &ENI.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ping {ENI} from {}", vpc.name);
    }
    let stats = t.maps().global_stats().unwrap();
    assert!(stats[Outcome::EchoAnswered as usize] >= 4, "the program answers, not the kernel");
}

#[test]
fn r15_a_disconnected_zone_connection_passes_nothing() {
    let t = Topology::new();
    t.maps().set_zone_conn(ENI_INDEX, &topo::zone_conn(ZONE_DISCONNECTED, VIP, 0)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let service = in_ns(&t.provider, move || {
        let l = TcpListener::bind((VIP, 8082)).unwrap();
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        l.accept().is_ok()
    });
    rx.recv_timeout(TIMEOUT).unwrap();
    let r = in_ns(&t.vpcs[0], || {
        TcpStream::connect_timeout(&SocketAddr::from((ENI, 8082)), Duration::from_secs(2)).map(|_| ())
    })
    .join()
    .unwrap();
    assert!(r.is_err(), "a connection through a disconnected zone must not open");
    let maps = t.maps();
    assert!(maps.eni_stats(ENI_INDEX).unwrap().drops[Outcome::DropZoneNotConnected as usize] >= 1);
    assert!(maps.flows().unwrap().is_empty(), "no flow may be created");
    assert!(!service.join().unwrap(), "the service must not see the connection");
    // The other VPC's ENI is unaffected.
    let server = tcp_server(&t, 8083, 1);
    let reply = in_ns(&t.vpcs[1], || tcp_request("still", 8083)).join().unwrap();
    assert!(reply.expect("VPC 2 still connects").starts_with("still from "));
    server.join().unwrap();
}

#[test]
fn two_vpcs_keep_their_addresses_apart_in_the_flow_table() {
    let t = Topology::new();
    let server = tcp_server(&t, 8084, 2);
    for v in 0..2 {
        in_ns(&t.vpcs[v], move || tcp_request(&format!("v{v}"), 8084)).join().unwrap().expect("exchange");
    }
    server.join().unwrap();
    let flows = t.maps().flows().unwrap();
    let scopes: Vec<u32> = flows.iter().map(|f| f.key.scope()).collect();
    assert!(scopes.contains(&1) && scopes.contains(&2), "{scopes:?}");
    for f in &flows {
        assert_eq!(Ipv4Addr::from(f.key.src), CLIENT);
        assert!(f.rev.is_some(), "every forward entry has its reverse");
    }
}
