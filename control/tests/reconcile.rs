//! The reconciler and the sweeper against real pinned maps: a run over maps that already
//! match writes nothing, whatever the previous run changed (publish, withdraw, disconnect);
//! the sweeper expires each flow by its own protocol's timeout. Needs root and bpffs; the
//! pins are removed on every path.

use std::{collections::BTreeSet, net::Ipv4Addr};

use eplink_control::reconcile::{apply, sweep, Desired};
use eplink_dataplane::{
    abi::{
        flow::{Timeouts, PROTO_TCP, PROTO_UDP, SEEN_SYN},
        EniKey, FlowKey, FwdEntry, IfaceInfo, IfaceKey, RevEntry, SnatPool, FAMILY_V4, ROLE_CONSUMER, ZONE_CONNECTED,
        ZONE_DISCONNECTED,
    },
    fixture::{topo::zone_conn, unique},
    v4, Dataplane, LoadOptions, Maps,
};

/// The loaded program's pins, removed on drop.
struct Pins(std::path::PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        Dataplane::remove_pins(&self.0).ok();
    }
}

fn eni_key(vpc: u32, last: u8) -> EniKey {
    EniKey { vpc, family: FAMILY_V4, _pad: [0; 3], addr: v4(Ipv4Addr::new(10, 0, 0, last)) }
}

/// `n` connected ENIs (indexes 1..=n) in VPC 1, one consumer interface, zone 0's pool.
fn desired(n: u8) -> Desired {
    let mut d = Desired::default();
    d.ifaces.insert(IfaceKey { ifindex: 1, vlan: 0 }, IfaceInfo { role: ROLE_CONSUMER, vpc: 1, fib_ifindex: 0, _pad: 0 });
    let mut pool = SnatPool { family: FAMILY_V4, count: 1, ..SnatPool::default() };
    pool.addrs[0] = v4(Ipv4Addr::new(100, 64, 0, 1));
    d.snat_pools.insert(0, pool);
    for i in 1..=n {
        d.zone_conns.insert(u32::from(i), zone_conn(ZONE_CONNECTED, Ipv4Addr::new(192, 0, 2, 10), 100));
        d.enis.insert(eni_key(1, 100 + i), u32::from(i));
    }
    d
}

fn writes(maps: &mut Maps, want: &Desired) -> usize {
    apply(maps, want).expect("apply").writes
}

#[test]
fn reconcile_run_twice_writes_nothing_the_second_time() {
    let pins = Pins(std::path::PathBuf::from("/sys/fs/bpf").join(unique("eplrec")));
    let mut dp = Dataplane::load(&LoadOptions::new(&pins.0)).expect("load the XDP program");
    let maps = dp.maps_mut();

    let mut want = desired(3);
    assert_eq!(writes(maps, &want), 1 + 1 + 3 + 3, "interface, pool, 3 zone connections, 3 ENIs");
    assert_eq!(writes(maps, &want), 0, "second run over equal maps");

    // Withdraw ENI 3: its address goes and its zone connection is cleared.
    want.enis.remove(&eni_key(1, 103));
    want.zone_conns.remove(&3);
    assert_eq!(writes(maps, &want), 2);
    assert_eq!(writes(maps, &want), 0, "second run after a withdrawal");
    assert_eq!(maps.enis.keys().count(), 2);

    // Disconnect ENI 2.
    want.zone_conns.insert(2, zone_conn(ZONE_DISCONNECTED, Ipv4Addr::new(192, 0, 2, 10), 100));
    assert_eq!(writes(maps, &want), 1);
    assert_eq!(writes(maps, &want), 0, "second run after a disconnect");

    // A fresh handle on the same pins (a restarted daemon) sees equal maps: nothing to write.
    let mut adopted = Maps::open_pinned(&pins.0).expect("open pinned");
    assert_eq!(writes(&mut adopted, &want), 0, "adopting equal maps");

    // Everything withdrawn: the maps end empty, and stay so.
    let empty = Desired { ifaces: want.ifaces.clone(), snat_pools: want.snat_pools.clone(), ..Desired::default() };
    assert_eq!(writes(&mut adopted, &empty), 2 + 2, "2 ENIs removed, 2 zone connections cleared");
    assert_eq!(writes(&mut adopted, &empty), 0);
    assert_eq!(adopted.enis.keys().count(), 0);
}

/// A flow (forward and reverse entry) of `proto` from client port `port`, last seen at jiffy `last`.
fn put_flow(maps: &mut Maps, proto: u8, port: u16, last: u64) -> (FlowKey, FlowKey) {
    let (client, eni, vip, snat) = ([10, 0, 0, 5], [10, 0, 0, 101], [192, 0, 2, 10], [100, 64, 0, 1]);
    let key = FlowKey::new(1, proto, (client, port.to_be()), (eni, 80u16.to_be()));
    let fwd = FwdEntry {
        nat_src: v4(snat.into()),
        nat_dst: v4(vip.into()),
        nat_sport_be: port.to_be(),
        eni: 1,
        generation: 1,
        flags: SEEN_SYN,
        last_seen: last,
        ..FwdEntry::default()
    };
    let rkey = Maps::reverse_key(&key, &fwd);
    let rev = RevEntry { client: v4(client.into()), eni_addr: v4(eni.into()), client_port_be: port.to_be(), eni: 1, generation: 1, flags: SEEN_SYN, last_seen: last, ..RevEntry::default() };
    maps.ct_fwd.insert(key, fwd, 0).unwrap();
    maps.ct_rev.insert(rkey, rev, 0).unwrap();
    (key, rkey)
}

#[test]
fn sweep_judges_each_flow_by_its_own_protocol_timeout_both_halves_together() {
    let pins = Pins(std::path::PathBuf::from("/sys/fs/bpf").join(unique("eplswp")));
    let mut dp = Dataplane::load(&LoadOptions::new(&pins.0)).expect("load the XDP program");
    let (now, hz) = {
        let c = dp.clock().expect("clock");
        (c.now().expect("jiffies"), c.hz())
    };
    assert!((100..=1000).contains(&hz), "HZ {hz}");
    let maps = dp.maps_mut();
    let two_minutes_ago = now - 120 * hz;
    // Idle two minutes: past the UDP timeout (60 s), well within TCP established (900 s).
    let (tcp, tcp_rev) = put_flow(maps, PROTO_TCP, 40_000, two_minutes_ago);
    let (udp, udp_rev) = put_flow(maps, PROTO_UDP, 40_001, two_minutes_ago);
    let (fresh_udp, _) = put_flow(maps, PROTO_UDP, 40_002, now);
    let st = sweep(maps, (now, hz), &Timeouts::default(), &BTreeSet::from([1])).expect("sweep");
    assert!(maps.ct_fwd.get(&tcp, 0).is_ok() && maps.ct_rev.get(&tcp_rev, 0).is_ok(), "an idle TCP flow keeps both halves");
    assert!(maps.ct_fwd.get(&udp, 0).is_err() && maps.ct_rev.get(&udp_rev, 0).is_err(), "an idle UDP flow goes, both halves");
    assert!(maps.ct_fwd.get(&fresh_udp, 0).is_ok());
    assert_eq!((st.live, st.expired, st.orphaned), (2, 1, 0));

    // A reverse half whose forward half the LRU evicted: judged alone, by its own protocol.
    maps.ct_fwd.remove(&tcp).unwrap();
    let st = sweep(maps, (now, hz), &Timeouts::default(), &BTreeSet::from([1])).expect("sweep");
    assert!(maps.ct_rev.get(&tcp_rev, 0).is_ok(), "a lone TCP reverse half within the TCP timeout stays");
    assert_eq!(st.expired, 0);
}
