//! Packet fixtures: frames built layer by layer run through the real XDP program with
//! `BPF_PROG_TEST_RUN`; the output is re-parsed with etherparse (an independent parser),
//! its checksums recomputed, and the verdict, flow tables and counters checked.
//!
//! Needs root and a mounted bpffs. Each test builds its own namespace and pin directory
//! and removes both, pass or fail.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use eplink_dataplane::{
    abi::{self, Outcome, ZoneConn, OUTCOME_COUNT},
    fixture::{
        self, frame, GatewayNs, RunResult, CLIENT_MAC, GW_CONSUMER_MAC, GW_PROVIDER_MAC, NEXT_HOP_MAC, XDP_DROP,
        XDP_PASS, XDP_REDIRECT,
    },
    Dataplane, LoadOptions,
};
use etherparse::{PacketHeaders, TransportHeader};

const VPC: u32 = 1;
const ENI_IDX: u32 = 7;
const ENI: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const VIP2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
const SNAT: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);

/// Removes the pin directory when dropped.
struct Pins(PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        Dataplane::remove_pins(&self.0).ok();
    }
}

/// One gateway: namespace, loaded program, one ENI of VPC 1 connected to `VIP`.
/// Fields drop in order: leave the namespace, unload, unpin, delete the namespace.
struct Fx {
    _in: fixture::Entered,
    dp: Dataplane,
    _pins: Pins,
    gw: GatewayNs,
}

/// A zone connection in `state` to `vip` limited to `mbps` (0 = unlimited).
fn zone(state: u32, vip: Ipv4Addr, mbps: u64) -> ZoneConn {
    fixture::topo::zone_conn(state, vip, mbps)
}

impl Fx {
    fn new() -> Fx {
        let gw = GatewayNs::new();
        let pin = PathBuf::from("/sys/fs/bpf").join(fixture::unique("eplfx"));
        let pins = Pins(pin.clone());
        let entered = gw.ns.enter();
        let mut dp = Dataplane::load(&LoadOptions::new(&pin)).expect("load XDP program");
        let m = dp.maps_mut();
        m.set_consumer_iface(gw.consumer_if, 0, VPC, gw.provider_if).unwrap();
        m.set_provider_iface(gw.provider_if).unwrap();
        m.set_snat_pool(0, &[SNAT]).unwrap();
        m.set_zone_conn(ENI_IDX, &zone(abi::ZONE_CONNECTED, VIP, 0)).unwrap();
        m.set_eni(VPC, IpAddr::V4(ENI), ENI_IDX).unwrap();
        Fx { _in: entered, dp, _pins: pins, gw }
    }

    /// Runs one frame and checks that exactly one outcome was counted for it.
    fn run(&mut self, frame: &[u8], ifindex: u32) -> (RunResult, Outcome) {
        let before = self.dp.maps().global_stats().unwrap();
        let r = fixture::run(self.dp.program().unwrap(), frame, ifindex, 1).expect("test_run");
        let after = self.dp.maps().global_stats().unwrap();
        let changed: Vec<Outcome> =
            Outcome::ALL.into_iter().filter(|o| after[*o as usize] != before[*o as usize]).collect();
        assert_eq!(changed.len(), 1, "exactly one outcome per packet, got {changed:?}");
        let o = changed[0];
        assert_eq!(after[o as usize] - before[o as usize], 1);
        (r, o)
    }

    fn consumer(&mut self, frame: &[u8]) -> (RunResult, Outcome) {
        let i = self.gw.consumer_if;
        self.run(frame, i)
    }

    fn provider(&mut self, frame: &[u8]) -> (RunResult, Outcome) {
        let i = self.gw.provider_if;
        self.run(frame, i)
    }

    fn flows(&self) -> usize {
        let m = self.dp.maps();
        let fwd = m.ct_fwd.keys().count();
        let rev = m.ct_rev.keys().count();
        assert_eq!(fwd, rev, "forward and reverse tables must stay paired");
        fwd
    }

    fn eni_drops(&self, o: Outcome) -> u64 {
        self.dp.maps().eni_stats(ENI_IDX).unwrap().drops[o as usize]
    }
}

/// What an independent parser sees in an output frame; panics on any checksum error.
#[derive(Debug)]
struct Seen {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    vlan: Option<u16>,
    payload: Vec<u8>,
}

fn inspect(f: &[u8]) -> Seen {
    let h = PacketHeaders::from_ethernet_slice(f).expect("output frame parses");
    let eth = h.link.clone().and_then(etherparse::LinkHeader::ethernet2).expect("ethernet");
    let vlan = h.vlan_ids().first().map(|v| v.value());
    let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &h.net else { panic!("not IPv4: {h:?}") };
    assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IPv4 header checksum");
    let payload = h.payload.slice().to_vec();
    let (sport, dport) = match h.transport.as_ref().expect("transport header") {
        TransportHeader::Tcp(t) => {
            assert_eq!(t.checksum, t.calc_checksum_ipv4(ip, &payload).unwrap(), "TCP checksum");
            (t.source_port, t.destination_port)
        }
        TransportHeader::Udp(u) => {
            if u.checksum != 0 {
                assert_eq!(u.checksum, u.calc_checksum_ipv4(ip, &payload).unwrap(), "UDP checksum");
            }
            (u.source_port, u.destination_port)
        }
        other => panic!("unexpected transport {other:?}"),
    };
    Seen {
        src_mac: eth.source,
        dst_mac: eth.destination,
        src: Ipv4Addr::from(ip.source),
        dst: Ipv4Addr::from(ip.destination),
        sport,
        dport,
        vlan,
        payload,
    }
}

const TO_GW: ([u8; 6], [u8; 6]) = (CLIENT_MAC, GW_CONSUMER_MAC);
const FROM_LB: ([u8; 6], [u8; 6]) = (NEXT_HOP_MAC, GW_PROVIDER_MAC);

fn syn(sport: u16) -> Vec<u8> {
    frame::tcp(TO_GW, (CLIENT, sport), (ENI, 80), frame::SYN, b"")
}

/// Sends a SYN and returns the SNAT port the flow got.
fn open(fx: &mut Fx, sport: u16) -> u16 {
    let (r, o) = fx.consumer(&syn(sport));
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    inspect(&r.frame).sport
}

#[test]
fn forward_syn_creates_a_flow_and_rewrites_to_the_vip() {
    let mut fx = Fx::new();
    let (r, o) = fx.consumer(&syn(40_000));
    assert_eq!(r.action, XDP_REDIRECT);
    assert_eq!(o, Outcome::Forwarded);
    let s = inspect(&r.frame);
    assert_eq!((s.src_mac, s.dst_mac), (GW_PROVIDER_MAC, NEXT_HOP_MAC), "MACs from the FIB lookup");
    assert_eq!((s.src, s.dst, s.dport), (SNAT, VIP, 80));
    assert!(s.sport >= abi::port::PORT_MIN);
    assert_eq!(fx.flows(), 1);
    let st = fx.dp.maps().eni_stats(ENI_IDX).unwrap();
    assert_eq!(st.fwd_packets, 1);
    assert_eq!(st.fwd_bytes, r.frame.len() as u64);
}

#[test]
fn established_packets_reuse_the_binding() {
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"GET / HTTP/1.0\r\n\r\n");
    let (r, o) = fx.consumer(&data);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    let s = inspect(&r.frame);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (SNAT, port, VIP, 80));
    assert_eq!(s.payload, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(fx.flows(), 1);
}

#[test]
fn reply_is_restored_and_sent_to_the_consumer() {
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    let reply = frame::tcp(FROM_LB, (VIP, 80), (SNAT, port), frame::SYN_ACK, b"");
    let (r, o) = fx.provider(&reply);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Reversed));
    let s = inspect(&r.frame);
    assert_eq!((s.src_mac, s.dst_mac), (GW_CONSUMER_MAC, CLIENT_MAC), "MACs learned from the forward packet");
    assert_eq!((s.src, s.sport, s.dst, s.dport), (ENI, 80, CLIENT, 40_000));
    assert_eq!(fx.dp.maps().eni_stats(ENI_IDX).unwrap().rev_packets, 1);
}

#[test]
fn reply_without_a_flow_passes_untouched() {
    let mut fx = Fx::new();
    let reply = frame::tcp(FROM_LB, (VIP, 80), (SNAT, 5555), frame::ACK, b"");
    let (r, o) = fx.provider(&reply);
    assert_eq!((r.action, o), (XDP_PASS, Outcome::PassNoFlow));
    assert_eq!(r.frame, reply);
}

#[test]
fn udp_request_and_reply() {
    let mut fx = Fx::new();
    let query = frame::udp(TO_GW, (CLIENT, 5353), (ENI, 53), b"query");
    let (r, o) = fx.consumer(&query);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    let s = inspect(&r.frame);
    assert_eq!((s.src, s.dst, s.dport, s.payload.as_slice()), (SNAT, VIP, 53, &b"query"[..]));
    let answer = frame::udp(FROM_LB, (VIP, 53), (SNAT, s.sport), b"answer");
    let (r, o) = fx.provider(&answer);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Reversed));
    let s = inspect(&r.frame);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (ENI, 53, CLIENT, 5353));
}

#[test]
fn udp_checksum_zero_stays_zero() {
    let mut fx = Fx::new();
    let mut q = frame::udp(TO_GW, (CLIENT, 5353), (ENI, 53), b"query");
    q[14 + 20 + 6] = 0;
    q[14 + 20 + 7] = 0;
    let (r, o) = fx.consumer(&q);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    assert_eq!(&r.frame[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
    inspect(&r.frame);
}

#[test]
fn icmp_echo_to_an_eni_is_answered_in_place() {
    let mut fx = Fx::new();
    let ping = frame::icmp_echo(TO_GW, CLIENT, ENI);
    let (r, o) = fx.consumer(&ping);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::EchoAnswered));
    let h = PacketHeaders::from_ethernet_slice(&r.frame).unwrap();
    let eth = h.link.clone().and_then(etherparse::LinkHeader::ethernet2).unwrap();
    assert_eq!((eth.source, eth.destination), (GW_CONSUMER_MAC, CLIENT_MAC));
    let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &h.net else { panic!() };
    assert_eq!((Ipv4Addr::from(ip.source), Ipv4Addr::from(ip.destination)), (ENI, CLIENT));
    assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    let Some(TransportHeader::Icmpv4(icmp)) = &h.transport else { panic!("{h:?}") };
    assert!(matches!(icmp.icmp_type, etherparse::Icmpv4Type::EchoReply(_)));
    assert_eq!(icmp.checksum, icmp.icmp_type.calc_checksum(h.payload.slice()));
    assert_eq!(fx.flows(), 0);
    let st = fx.dp.maps().eni_stats(ENI_IDX).unwrap();
    assert!(st.drops.iter().all(|d| *d == 0), "an answered ping is no drop: {st:?}");
}

#[test]
fn icmp_to_a_non_eni_address_passes_to_the_kernel() {
    let mut fx = Fx::new();
    let ping = frame::icmp_echo(TO_GW, CLIENT, Ipv4Addr::new(10, 0, 0, 1));
    let (r, o) = fx.consumer(&ping);
    assert_eq!((r.action, o), (XDP_PASS, Outcome::PassNotTcpUdp));
    assert_eq!(r.frame, ping);
}

#[test]
fn arp_passes_to_the_kernel() {
    let mut fx = Fx::new();
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&CLIENT.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&ENI.octets());
    let (r, o) = fx.consumer(&arp);
    assert_eq!((r.action, o), (XDP_PASS, Outcome::PassNotIpv4));
    assert_eq!(r.frame, arp);
}

#[test]
fn traffic_to_a_non_eni_address_passes_untouched() {
    let mut fx = Fx::new();
    let f = frame::tcp(TO_GW, (CLIENT, 40_000), (Ipv4Addr::new(10, 0, 0, 99), 80), frame::SYN, b"");
    let (r, o) = fx.consumer(&f);
    assert_eq!((r.action, o), (XDP_PASS, Outcome::PassNotEni));
    assert_eq!(r.frame, f);
    assert_eq!(fx.flows(), 0);
}

#[test]
fn unknown_interface_passes() {
    let mut fx = Fx::new();
    fx.dp.maps_mut().remove_iface(fx.gw.consumer_if, 0).unwrap();
    let (r, o) = fx.consumer(&syn(40_000));
    assert_eq!((r.action, o), (XDP_PASS, Outcome::PassUnknownInterface));
    assert_eq!(fx.flows(), 0);
}

#[test]
fn r15_disconnected_zone_forwards_nothing_and_creates_no_flow() {
    let mut fx = Fx::new();
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_DISCONNECTED, VIP, 0)).unwrap();
    let (r, o) = fx.consumer(&syn(40_000));
    assert_eq!((r.action, o), (XDP_DROP, Outcome::DropZoneNotConnected));
    assert_eq!(fx.flows(), 0);
    assert_eq!(fx.eni_drops(Outcome::DropZoneNotConnected), 1);
}

#[test]
fn disconnecting_a_zone_stops_existing_flows_both_ways() {
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_DISCONNECTED, VIP, 0)).unwrap();
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"x");
    assert_eq!(fx.consumer(&data).1, Outcome::DropZoneNotConnected);
    let reply = frame::tcp(FROM_LB, (VIP, 80), (SNAT, port), frame::ACK, b"y");
    assert_eq!(fx.provider(&reply).1, Outcome::DropZoneNotConnected);
}

#[test]
fn r28_allocation_change_keeps_existing_flows_and_moves_new_ones() {
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_CONNECTED, VIP2, 0)).unwrap();
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"x");
    let s = inspect(&fx.consumer(&data).0.frame);
    assert_eq!((s.dst, s.sport), (VIP, port), "old flow keeps its binding");
    let s = inspect(&fx.consumer(&syn(40_001)).0.frame);
    assert_eq!(s.dst, VIP2, "a new flow goes to the new resource");
    assert_eq!(fx.flows(), 2);
}

#[test]
fn a_flow_of_a_replaced_eni_never_forwards() {
    let mut fx = Fx::new();
    open(&mut fx, 40_000);
    let mut zc = zone(abi::ZONE_CONNECTED, VIP, 0);
    zc.generation = 2;
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zc).unwrap();
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"x");
    let (r, o) = fx.consumer(&data);
    assert_eq!((r.action, o), (XDP_DROP, Outcome::DropStaleFlow));
    // The stale forward entry is gone: the next packet starts a fresh flow.
    let (r, o) = fx.consumer(&syn(40_000));
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
}

#[test]
fn r30_over_the_bandwidth_limit_drops_and_counts() {
    let mut fx = Fx::new();
    // 1 Mbit/s: test_run packets are tens of microseconds apart, far above this rate.
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_CONNECTED, VIP, 1)).unwrap();
    open(&mut fx, 40_000);
    let payload = vec![0u8; 1400];
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, &payload);
    let mut forwarded = 0u64;
    // 200 frames of ~1.5 kB (300 kB) within milliseconds far exceed the 64 KiB burst.
    for _ in 0..200 {
        if fx.consumer(&data).1 == Outcome::Forwarded {
            forwarded += 1;
        }
    }
    let drops = fx.eni_drops(Outcome::DropRateLimited);
    assert_eq!(forwarded + drops, 200);
    assert!(drops > 100, "only {drops} of 200 dropped");
    assert!(forwarded >= 40, "the burst allowance let only {forwarded} through");
}

#[test]
fn rate_limited_new_flow_leaves_no_state() {
    let mut fx = Fx::new();
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_CONNECTED, VIP, 1)).unwrap();
    let payload = vec![0u8; 1400];
    let mut drops = 0;
    for sport in 0..100u16 {
        let f = frame::udp(TO_GW, (CLIENT, 20_000 + sport), (ENI, 53), &payload);
        if fx.consumer(&f).1 == Outcome::DropRateLimited {
            drops += 1;
        }
    }
    assert!(drops > 0);
    assert_eq!(fx.flows(), 100 - drops, "dropped packets must not create flows");
}

// ---- bad input -------------------------------------------------------------------------

fn assert_dropped_clean(fx: &mut Fx, f: &[u8], expect: Outcome, what: &str) {
    let (r, o) = fx.consumer(f);
    assert_eq!(o, expect, "{what}");
    assert_eq!(r.action, if expect.is_drop() { XDP_DROP } else { XDP_PASS }, "{what}");
    if !expect.is_drop() {
        assert_eq!(r.frame, f, "{what}: passed frames are untouched");
    }
    assert_eq!(fx.flows(), 0, "{what}: no flow may be created");
}

#[test]
fn truncated_frames_at_every_header_boundary_drop_without_state() {
    let mut fx = Fx::new();
    let full = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::SYN, b"");
    // test_run refuses frames shorter than an Ethernet header, so they never reach XDP.
    for len in 14..full.len() {
        assert_dropped_clean(&mut fx, &full[..len], Outcome::DropMalformed, &format!("truncated to {len}"));
    }
    let udp = frame::udp(TO_GW, (CLIENT, 5353), (ENI, 53), b"");
    for len in 14..udp.len() {
        assert_dropped_clean(&mut fx, &udp[..len], Outcome::DropMalformed, &format!("UDP truncated to {len}"));
    }
}

#[test]
fn truncated_vlan_tag_drops() {
    let mut fx = Fx::new();
    let mut f = vec![0u8; 16];
    f[..6].copy_from_slice(&GW_CONSUMER_MAC);
    f[6..12].copy_from_slice(&CLIENT_MAC);
    f[12..14].copy_from_slice(&[0x81, 0x00]);
    assert_dropped_clean(&mut fx, &f, Outcome::DropMalformed, "tag cut short");
}

#[test]
fn bogus_ihl_and_total_length_drop_without_state() {
    /// Breaks a good frame in one way.
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let mut fx = Fx::new();
    let good = syn(40_000);
    let cases: [(&str, Mutation); 5] = [
        ("IHL 4", Box::new(|f| f[14] = 0x44)),
        ("IHL 15 beyond the frame", Box::new(|f| f[14] = 0x4f)),
        ("total length beyond the frame", Box::new(|f| f[16..18].copy_from_slice(&1500u16.to_be_bytes()))),
        ("total length below the header", Box::new(|f| f[16..18].copy_from_slice(&12u16.to_be_bytes()))),
        ("version 6 in an IPv4 EtherType", Box::new(|f| f[14] = 0x65)),
    ];
    for (what, mutate) in cases {
        let mut f = good.clone();
        mutate(&mut f);
        frame::fix_ipv4_checksum(&mut f);
        assert_dropped_clean(&mut fx, &f, Outcome::DropMalformed, what);
    }
    let mut f = good.clone();
    f[14 + 20 + 12] = 0x40; // TCP data offset 4
    assert_dropped_clean(&mut fx, &f, Outcome::DropMalformed, "TCP data offset 4");
    let mut f = good;
    f[16..18].copy_from_slice(&30u16.to_be_bytes()); // TCP header cut off by total length
    frame::fix_ipv4_checksum(&mut f);
    assert_dropped_clean(&mut fx, &f, Outcome::DropMalformed, "TCP header beyond total length");
}

#[test]
fn ip_options_are_kept_and_the_packet_forwarded() {
    let mut fx = Fx::new();
    let plain = syn(40_000);
    // Insert 4 bytes of options (NOP NOP NOP EOL) after the fixed header: IHL 6.
    let mut f = plain[..34].to_vec();
    f.extend_from_slice(&[1, 1, 1, 0]);
    f.extend_from_slice(&plain[34..]);
    f[14] = 0x46;
    let tot = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    frame::fix_ipv4_checksum(&mut f);
    let (r, o) = fx.consumer(&f);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    let s = inspect(&r.frame);
    assert_eq!((s.src, s.dst, s.dport), (SNAT, VIP, 80));
    assert_eq!(&r.frame[34..38], &[1, 1, 1, 0], "options preserved");
}

#[test]
fn fragments_to_an_eni_drop_counted_without_state() {
    let mut fx = Fx::new();
    for (what, frag) in [("more fragments", 0x2000u16), ("non-first fragment", 0x0010)] {
        let mut f = frame::udp(TO_GW, (CLIENT, 5353), (ENI, 53), b"part");
        f[20..22].copy_from_slice(&frag.to_be_bytes());
        frame::fix_ipv4_checksum(&mut f);
        assert_dropped_clean(&mut fx, &f, Outcome::DropFragment, what);
    }
    assert_eq!(fx.eni_drops(Outcome::DropFragment), 2);
    let mut f = frame::udp(TO_GW, (CLIENT, 5353), (Ipv4Addr::new(10, 0, 0, 99), 53), b"part");
    f[20..22].copy_from_slice(&0x2000u16.to_be_bytes());
    frame::fix_ipv4_checksum(&mut f);
    assert_dropped_clean(&mut fx, &f, Outcome::PassNotEni, "fragment to a non-ENI address");
}

#[test]
fn unknown_ethertypes_pass_untouched() {
    let mut fx = Fx::new();
    for ethertype in [[0x88u8, 0xb5], [0x86, 0xdd], [0x88, 0xcc]] {
        let mut f = syn(40_000);
        f[12..14].copy_from_slice(&ethertype);
        assert_dropped_clean(&mut fx, &f, Outcome::PassNotIpv4, &format!("EtherType {ethertype:02x?}"));
    }
}

fn tag(f: &[u8], vlan: u16) -> Vec<u8> {
    let mut t = f[..12].to_vec();
    t.extend_from_slice(&[0x81, 0x00]);
    t.extend_from_slice(&vlan.to_be_bytes());
    t.extend_from_slice(&f[12..]);
    t
}

#[test]
fn vlan_tagged_frames_of_an_unserved_vlan_pass() {
    let mut fx = Fx::new();
    let f = tag(&syn(40_000), 42);
    assert_dropped_clean(&mut fx, &f, Outcome::PassUnknownInterface, "VLAN 42 not served");
}

#[test]
fn a_served_vlan_is_its_own_vpc_and_replies_get_the_tag_back() {
    let mut fx = Fx::new();
    // VLAN 42 on the same port is VPC 2, which has an ENI with the same address.
    let m = fx.dp.maps_mut();
    m.set_consumer_iface(fx.gw.consumer_if, 42, 2, fx.gw.provider_if).unwrap();
    m.set_zone_conn(8, &zone(abi::ZONE_CONNECTED, VIP2, 0)).unwrap();
    m.set_eni(2, IpAddr::V4(ENI), 8).unwrap();
    let (r, o) = fx.consumer(&tag(&syn(40_000), 42));
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    let s = inspect(&r.frame);
    assert_eq!((s.vlan, s.dst), (None, VIP2), "tag removed towards the provider, VPC 2's VIP");
    let reply = frame::tcp(FROM_LB, (VIP2, 80), (SNAT, s.sport), frame::SYN_ACK, b"");
    let (r, o) = fx.provider(&reply);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Reversed));
    let s = inspect(&r.frame);
    assert_eq!((s.vlan, s.src, s.dst, s.dport), (Some(42), ENI, CLIENT, 40_000));
}

#[test]
fn every_outcome_name_is_unique() {
    let mut names: Vec<&str> = Outcome::ALL.iter().map(|o| o.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), OUTCOME_COUNT);
}

/// Slots of the flow cache holding anything, over all CPUs.
fn cached_slots(fx: &Fx) -> usize {
    let m = fx.dp.maps();
    m.flow_cache.iter().map(Result::unwrap).filter(|v| v.iter().any(|s| s.epoch != 0)).count()
}

#[test]
fn flow_cache_translates_like_the_flow_table_and_a_flush_takes_effect_at_once() {
    pin_to_one_cpu();
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"x");
    let (from_table, o) = fx.consumer(&data);
    assert_eq!(o, Outcome::Forwarded);
    assert_eq!(cached_slots(&fx), 1, "the established packet filled a slot");
    let (from_cache, o) = fx.consumer(&data);
    assert_eq!(o, Outcome::Forwarded);
    assert_eq!(from_cache.frame, from_table.frame, "the cache translates byte for byte like the table");
    let s = inspect(&from_cache.frame);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (SNAT, port, VIP, 80));
    fx.dp.maps_mut().set_flow_cache(false).unwrap();
    assert_eq!(fx.consumer(&data).0.frame, from_table.frame, "and so does the table with the cache off");
    fx.dp.maps_mut().set_flow_cache(true).unwrap();
    fx.consumer(&data);

    // Re-point the zone and flush its flows: the very next packet must start a new flow
    // towards the new VIP, not reuse the cached binding.
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_CONNECTED, VIP2, 0)).unwrap();
    let flushed = fx.dp.maps_mut().flush_flows(&std::collections::BTreeSet::from([ENI_IDX])).unwrap();
    assert_eq!(flushed, 1);
    let (r, o) = fx.consumer(&data);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    assert_eq!(inspect(&r.frame).dst, VIP2, "flushed flows re-bind at once despite the flow cache");
}

#[test]
fn replies_served_from_the_flow_cache_match_the_flow_table() {
    pin_to_one_cpu();
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    let reply = frame::tcp(FROM_LB, (VIP, 80), (SNAT, port), frame::ACK, b"y");
    let (from_table, o) = fx.provider(&reply);
    assert_eq!(o, Outcome::Reversed);
    let (from_cache, o) = fx.provider(&reply);
    assert_eq!(o, Outcome::Reversed);
    assert_eq!(from_cache.frame, from_table.frame);
    let s = inspect(&from_cache.frame);
    assert_eq!((s.src_mac, s.dst_mac), (GW_CONSUMER_MAC, CLIENT_MAC));
    assert_eq!((s.src, s.sport, s.dst, s.dport), (ENI, 80, CLIENT, 40_000));
}

#[test]
fn fin_and_rst_bypass_the_flow_cache_so_the_flow_table_records_them() {
    pin_to_one_cpu();
    let mut fx = Fx::new();
    open(&mut fx, 40_000);
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"x");
    fx.consumer(&data);
    fx.consumer(&data);
    let fin = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::Flags { fin: true, ..frame::ACK }, b"");
    assert_eq!(fx.consumer(&fin).1, Outcome::Forwarded);
    let flows = fx.dp.maps().flows().unwrap();
    assert_eq!(flows.len(), 1);
    assert_ne!(flows[0].fwd.flags & abi::flow::SEEN_FIN, 0, "FIN recorded: the flow will expire as closing");
}

#[test]
fn disconnecting_a_zone_stops_cached_flows_too() {
    pin_to_one_cpu();
    let mut fx = Fx::new();
    open(&mut fx, 40_000);
    let data = frame::tcp(TO_GW, (CLIENT, 40_000), (ENI, 80), frame::ACK, b"x");
    fx.consumer(&data);
    assert_eq!(fx.consumer(&data).1, Outcome::Forwarded);
    // No flush and no new epoch: the zone connection is checked on every packet.
    fx.dp.maps_mut().set_zone_conn(ENI_IDX, &zone(abi::ZONE_DISCONNECTED, VIP, 0)).unwrap();
    assert_eq!(fx.consumer(&data).1, Outcome::DropZoneNotConnected);
}

#[test]
fn an_interface_beyond_the_ifaces_array_is_served_through_ifaces_ext() {
    let mut fx = Fx::new();
    let big = abi::IFACES_ARRAY_SIZE + 3000;
    fx.gw.ns.exec(&["ip", "link", "add", "name", "big0", "index", &big.to_string(), "type", "veth", "peer", "name", "big1"]);
    fx.gw.ns.exec(&["ip", "link", "set", "big0", "up"]);
    let provider = fx.gw.provider_if;
    let m = fx.dp.maps_mut();
    m.set_consumer_iface(big, 0, 2, provider).unwrap();
    m.set_eni(2, IpAddr::V4(ENI), ENI_IDX).unwrap();
    assert_eq!(m.ifaces_ext.keys().count(), 1, "kept out of the array");
    assert!(m.served_ifaces().unwrap().iter().any(|(k, i)| k.ifindex == big && i.vpc == 2));
    let (r, o) = fx.run(&syn(40_000), big);
    assert_eq!((r.action, o), (XDP_REDIRECT, Outcome::Forwarded));
    assert_eq!(inspect(&r.frame).dst, VIP);
    let flows = fx.dp.maps().flows().unwrap();
    assert_eq!(flows.iter().map(|f| f.key.scope()).collect::<Vec<_>>(), [2], "scoped by that interface's VPC");
    fx.dp.maps_mut().remove_iface(big, 0).unwrap();
    assert_eq!(fx.consumer(&syn(40_001)).1, Outcome::Forwarded, "the array's interfaces are untouched");
    assert_eq!(fx.run(&syn(40_002), big).1, Outcome::PassUnknownInterface);
}

/// Keeps this thread on one CPU: the flow cache is per CPU, and `test_run` runs on the
/// caller's CPU.
fn pin_to_one_cpu() {
    // SAFETY: sched_setaffinity on the calling thread (0) with a CPU set we own.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set)
    };
    assert_eq!(rc, 0, "sched_setaffinity: {}", std::io::Error::last_os_error());
}

#[test]
fn a_cached_reply_translation_never_serves_a_new_flow_that_reuses_its_key() {
    pin_to_one_cpu();
    let mut fx = Fx::new();
    let port = open(&mut fx, 40_000);
    let reply = frame::tcp(FROM_LB, (VIP, 80), (SNAT, port), frame::ACK, b"y");
    fx.provider(&reply);
    assert_eq!(inspect(&fx.provider(&reply).0.frame).dport, 40_000, "served from the cache");

    // The LRU evicts the flow (no flush, so no new epoch), then new flows arrive until one
    // is given the same SNAT port: the same reverse key, for another client port.
    let (fwd_key, fwd) = fx.dp.maps().ct_fwd.iter().map(Result::unwrap).next().unwrap();
    let rev_key = eplink_dataplane::Maps::reverse_key(&fwd_key, &fwd);
    fx.dp.maps_mut().ct_fwd.remove(&fwd_key).unwrap();
    fx.dp.maps_mut().ct_rev.remove(&rev_key).unwrap();
    // Quickly (no counter reads): the cached slot serves for about a second.
    let consumer = fx.gw.consumer_if;
    let prog = fx.dp.program().unwrap();
    let taker = (1024..u16::MAX)
        .filter(|&sport| sport != 40_000)
        .find(|&sport| inspect(&fixture::run(prog, &syn(sport), consumer, 1).unwrap().frame).sport == port)
        .expect("some flow gets the port");

    let (r, o) = fx.provider(&reply);
    assert_eq!(o, Outcome::Reversed);
    assert_eq!(inspect(&r.frame).dport, taker, "the reply reaches the flow that owns the key now");
}
