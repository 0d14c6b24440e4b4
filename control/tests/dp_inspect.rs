//! `eplink dp …` against a real gateway in namespaces, checked against bpftool's raw dump of
//! the same pinned maps: every ENI, every flow and every counter must agree.
//!
//! The dump is decoded here, independently of `eplink_dataplane`, from the byte offsets of
//! the ABI (`dataplane/abi/src/maps.rs`); the size assertions there pin those offsets. Needs
//! root, bpffs and `bpftool`. Counters of the global outcomes may still move while the test
//! reads them (the kernel sends IPv6 router solicitations on new veths), so the CLI's value
//! must lie between a dump taken before and one taken after it.
#![expect(clippy::many_single_char_names, clippy::similar_names, reason = "byte-offset decoding reads best with short names")]

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::Path,
    process::Command,
    time::Duration,
};

use eplink_dataplane::fixture::topo::{CLIENT, ENI, ENI_INDEX, Topology, VIP};
use eplink_tests::in_ns;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(5);
const TCP_PORT: u16 = 8080;
const UDP_PORT: u16 = 5353;

/// One TCP exchange and one UDP exchange from each VPC through the ENI.
fn send_traffic(t: &Topology) {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = in_ns(&t.provider, move || {
        let l = TcpListener::bind((VIP, TCP_PORT)).expect("bind TCP on the VIP");
        let u = UdpSocket::bind((VIP, UDP_PORT)).expect("bind UDP on the VIP");
        u.set_read_timeout(Some(TIMEOUT)).unwrap();
        tx.send(()).unwrap();
        // Own thread (same namespace: threads inherit it): each client waits for its UDP
        // reply before the other VPC's TCP connection starts.
        let udp = std::thread::spawn(move || {
            for _ in 0..2 {
                let mut buf = [0u8; 64];
                let (n, peer) = u.recv_from(&mut buf).expect("datagram");
                u.send_to(&buf[..n], peer).unwrap();
            }
        });
        for _ in 0..2 {
            let (mut s, peer) = l.accept().expect("accept");
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).expect("request");
            s.write_all(format!("{} from {peer}", String::from_utf8_lossy(&buf[..n])).as_bytes()).unwrap();
        }
        udp.join().unwrap();
    });
    rx.recv_timeout(TIMEOUT).expect("servers ready");
    for (v, vpc) in t.vpcs.iter().enumerate() {
        in_ns(vpc, move || {
            let mut s = TcpStream::connect_timeout(&SocketAddr::from((ENI, TCP_PORT)), TIMEOUT).expect("connect");
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            s.write_all(format!("vpc{v}").as_bytes()).unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).expect("TCP reply");
            assert!(reply.starts_with(&format!("vpc{v} from ")), "{reply}");
            let u = UdpSocket::bind((CLIENT, 0)).unwrap();
            u.set_read_timeout(Some(TIMEOUT)).unwrap();
            u.send_to(b"query", (ENI, UDP_PORT)).unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = u.recv_from(&mut buf).expect("UDP reply");
            assert_eq!((&buf[..n], from), (&b"query"[..], SocketAddr::from((ENI, UDP_PORT))));
        })
        .join()
        .unwrap();
    }
    server.join().unwrap();
    // Let the last ACKs of the TCP close cross the gateway before anything is compared.
    std::thread::sleep(Duration::from_millis(500));
}

fn eplink(pin_dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_eplink"))
        .arg("dp")
        .args(args)
        .args(["--json", "--pin-dir"])
        .arg(pin_dir)
        .env_remove("EPLINK_INVENTORY")
        .output()
        .expect("run eplink");
    assert!(out.status.success(), "eplink dp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("eplink dp {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn bpftool(args: &[&str]) -> Value {
    let out = Command::new("bpftool").arg("-j").args(args).output().expect("run bpftool");
    assert!(out.status.success(), "bpftool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("bpftool prints JSON")
}

/// bpftool prints bytes as `"0x0a"` strings; rewritten as plain numbers they deserialize
/// straight into `Vec<u8>` (a `Value` per byte would need gigabytes for `ENI_STATS`).
fn hex_strings_to_numbers(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(b"\"0x") && text.get(i + 5) == Some(&b'"') {
            let b = u8::from_str_radix(std::str::from_utf8(&text[i + 3..i + 5]).unwrap(), 16).expect("hex byte");
            out.extend_from_slice(b.to_string().as_bytes());
            i += 6;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct RawEntry {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    values: Option<Vec<RawCpuValue>>,
}

#[derive(serde::Deserialize)]
struct RawCpuValue {
    value: Vec<u8>,
}

fn u16_be(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn v4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// A raw map dump: (key, value) for plain maps, (key, per-CPU values) for per-CPU maps.
struct Dump {
    entries: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
}

fn dump(pin_dir: &Path, map: &str) -> Dump {
    let path = pin_dir.join(map);
    let out = Command::new("bpftool").args(["-j", "map", "dump", "pinned"]).arg(&path).output().expect("run bpftool");
    assert!(out.status.success(), "bpftool dump {map}: {}", String::from_utf8_lossy(&out.stderr));
    let raw: Vec<RawEntry> = serde_json::from_slice(&hex_strings_to_numbers(&out.stdout)).expect("bpftool prints JSON");
    let entries = raw
        .into_iter()
        .map(|e| {
            let values = match (e.value, e.values) {
                (Some(v), _) => vec![v],
                (None, Some(per_cpu)) => per_cpu.into_iter().map(|c| c.value).collect(),
                (None, None) => panic!("{map}: entry without value"),
            };
            (e.key, values)
        })
        .collect();
    Dump { entries }
}

impl Dump {
    /// Array dumps: the value (summed per CPU as u64 words) of index `i`.
    fn words(&self, i: u32) -> Vec<u64> {
        let (k, vals) = &self.entries[i as usize];
        assert_eq!(u32_le(k, 0), i, "bpftool dumps arrays in index order");
        let n = vals[0].len() / 8;
        (0..n).map(|w| vals.iter().map(|v| u64_le(v, w * 8)).sum()).collect()
    }

    fn value(&self, i: u32) -> &[u8] {
        let (k, vals) = &self.entries[i as usize];
        assert_eq!(u32_le(k, 0), i, "bpftool dumps arrays in index order");
        &vals[0]
    }

    fn non_zero(&self) -> u64 {
        self.entries.iter().filter(|(_, vs)| vs.iter().any(|v| v.iter().any(|b| *b != 0))).count() as u64
    }
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("number expected: {v}"))
}

/// Words of an `ENI_STATS` value: `fwd_packets`, `fwd_bytes`, `rev_packets`, `rev_bytes`, then
/// `drops[OUTCOME_COUNT]`.
const STATS_FWD_PACKETS: usize = 0;
const STATS_FWD_BYTES: usize = 1;
const STATS_REV_PACKETS: usize = 2;
const STATS_REV_BYTES: usize = 3;
const STATS_DROPS: usize = 4;

/// Outcome names in ABI order, and which are drops (as `docs/operator.md` lists them).
const OUTCOMES: [&str; 18] = [
    "forwarded", "reversed", "echo_answered", "pass_unknown_interface", "pass_not_ipv4", "pass_not_tcp_udp",
    "pass_not_eni", "pass_no_flow", "pass_no_neighbour", "drop_malformed", "drop_fragment",
    "drop_zone_not_connected", "drop_rate_limited", "drop_no_snat_pool", "drop_port_exhausted",
    "drop_flow_table_full", "drop_no_route", "drop_stale_flow",
];

fn flags(f: u32) -> String {
    let n: Vec<&str> = [(1, "syn"), (2, "fin"), (4, "rst")].iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect();
    if n.is_empty() { "-".into() } else { n.join(",") }
}

#[test]
#[expect(clippy::too_many_lines, reason = "one walk over every map, in the order an operator reads them")]
fn eplink_views_agree_with_bpftools_raw_dump_of_the_same_pinned_maps() {
    let t = Topology::new();
    send_traffic(&t);
    let pin = t.pin_dir.as_path();

    let enis_before = dump(pin, "ENI_STATS");
    let global_before = dump(pin, "GLOBAL_STATS");
    let enis = eplink(pin, &["enis"]);
    let flows = eplink(pin, &["flows"]);
    let stats = eplink(pin, &["stats"]);
    let maps = eplink(pin, &["maps"]);
    let enis_after = dump(pin, "ENI_STATS");
    let global_after = dump(pin, "GLOBAL_STATS");
    let between = |what: &str, lo: u64, v: u64, hi: u64| assert!(lo <= v && v <= hi, "{what}: eplink says {v}, bpftool {lo}..={hi}");

    // ENIs: ENIS keys and values, each joined with ZONE_CONNS and ENI_STATS.
    let raw_enis = dump(pin, "ENIS");
    let zone_conns = dump(pin, "ZONE_CONNS");
    let rows = enis.as_array().expect("a list of ENIs");
    assert_eq!(rows.len(), raw_enis.entries.len(), "one row per ENIS entry");
    assert_eq!(rows.len(), 2, "the topology publishes one ENI per VPC");
    for (key, vals) in &raw_enis.entries {
        let (vpc, family, addr, index) = (u32_le(key, 0), key[4], v4(key, 8), u32_le(&vals[0], 0));
        assert_eq!(family, 4);
        let row = rows
            .iter()
            .find(|r| as_u64(&r["eni_index"]) == u64::from(index))
            .unwrap_or_else(|| panic!("ENI {index} missing from eplink dp enis"));
        assert_eq!(as_u64(&row["vpc_index"]), u64::from(vpc));
        assert_eq!(row["address"], addr.to_string());
        let zc = zone_conns.value(index);
        let state = match u32_le(zc, 0) {
            0 => "disconnected".to_owned(),
            1 => "connected".to_owned(),
            s => format!("unknown({s})"),
        };
        assert_eq!(row["dp_state"], state);
        assert_eq!(as_u64(&row["generation"]), u64::from(u32_le(zc, 4)));
        assert_eq!(as_u64(&row["zone_index"]), u64::from(u32_le(zc, 8)));
        assert_eq!(row["vip"], v4(zc, 16).to_string());
        assert_eq!(row["bandwidth_mbps"].is_null(), u64_le(zc, 32) == 0);
        for (field, word) in [
            ("fwd_packets", STATS_FWD_PACKETS),
            ("fwd_bytes", STATS_FWD_BYTES),
            ("rev_packets", STATS_REV_PACKETS),
            ("rev_bytes", STATS_REV_BYTES),
        ] {
            let (lo, hi) = (enis_before.words(index)[word], enis_after.words(index)[word]);
            between(&format!("ENI {index} {field}"), lo, as_u64(&row[field]), hi);
        }
        let drops = |d: &Dump| d.words(index)[STATS_DROPS..].iter().zip(OUTCOMES).filter(|(_, n)| n.starts_with("drop_")).map(|(c, _)| *c).sum();
        between(&format!("ENI {index} drops"), drops(&enis_before), as_u64(&row["drops"]), drops(&enis_after));
    }
    for i in [ENI_INDEX, ENI_INDEX + 1] {
        let w = enis_after.words(i);
        assert!(w[STATS_FWD_PACKETS] >= 4 && w[STATS_REV_PACKETS] >= 3, "ENI {i} carried both exchanges: {w:?}");
    }

    // Flows: every CT_FWD entry joined with its CT_REV entry, decoded from the raw bytes.
    let fwd = dump(pin, "CT_FWD");
    let rev = dump(pin, "CT_REV");
    let rev_by_key: BTreeMap<Vec<u8>, Vec<u8>> = rev.entries.iter().map(|(k, v)| (k.clone(), v[0].clone())).collect();
    let mut want = BTreeSet::new();
    for (k, v) in &fwd.entries {
        let v = &v[0];
        // The key: source, destination, ports, then `scope << 8 | proto` little-endian.
        let proto = match k[12] {
            6 => "tcp".to_owned(),
            17 => "udp".to_owned(),
            p => format!("proto{p}"),
        };
        // The reverse key: VIP → SNAT address, service port → SNAT port, scope 0, proto.
        let mut rk = vec![0u8; 16];
        rk[0..4].copy_from_slice(&v[16..20]);
        rk[4..8].copy_from_slice(&v[0..4]);
        rk[8..10].copy_from_slice(&k[10..12]);
        rk[10..12].copy_from_slice(&v[32..34]);
        rk[12] = k[12];
        let r = rev_by_key.get(&rk).expect("every forward entry has its reverse entry");
        assert_eq!(u32_le(r, 44), u32_le(v, 36), "both entries name the same ENI");
        want.insert((
            proto,
            u32_le(k, 12) >> 8,
            SocketAddr::from((v4(k, 0), u16_be(k, 8))).to_string(),
            SocketAddr::from((v4(k, 4), u16_be(k, 10))).to_string(),
            SocketAddr::from((v4(v, 0), u16_be(v, 32))).to_string(),
            SocketAddr::from((v4(v, 16), u16_be(k, 10))).to_string(),
            u32_le(v, 36),
            flags(u32_le(v, 44)),
            flags(u32_le(r, 52)),
        ));
    }
    let got: BTreeSet<_> = flows["flows"]
        .as_array()
        .expect("a list of flows")
        .iter()
        .map(|f| {
            (
                f["proto"].as_str().unwrap().to_owned(),
                u32::try_from(as_u64(&f["vpc_index"])).unwrap(),
                f["client"].as_str().unwrap().to_owned(),
                f["eni"].as_str().unwrap().to_owned(),
                f["snat"].as_str().unwrap().to_owned(),
                f["vip"].as_str().unwrap().to_owned(),
                u32::try_from(as_u64(&f["eni_index"])).unwrap(),
                f["fwd_flags"].as_str().unwrap().to_owned(),
                f["rev_flags"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want, "eplink dp flows and the raw CT_FWD/CT_REV dump");
    assert_eq!(as_u64(&flows["total"]), fwd.entries.len() as u64);
    assert_eq!(want.len(), 4, "a TCP and a UDP flow from each VPC: {want:?}");
    for vpc in [1, 2] {
        for proto in ["tcp", "udp"] {
            assert!(want.iter().any(|w| w.0 == proto && w.1 == vpc), "{proto} flow of VPC {vpc}");
        }
    }
    assert!(want.iter().filter(|w| w.0 == "tcp").all(|w| w.7.contains("syn") && w.8.contains("syn")));

    // Counters: every outcome, and every per-ENI outcome counter.
    let global = stats["global"].as_array().expect("global counters");
    assert_eq!(global.len(), OUTCOMES.len());
    for (i, (row, name)) in global.iter().zip(OUTCOMES).enumerate() {
        assert_eq!(row["outcome"], name);
        assert_eq!(row["drop"], name.starts_with("drop_"));
        let i = u32::try_from(i).unwrap();
        between(name, global_before.words(i)[0], as_u64(&row["packets"]), global_after.words(i)[0]);
    }
    assert!(as_u64(&global[0]["packets"]) >= 8 && as_u64(&global[1]["packets"]) >= 6, "{global:?}");
    let per_eni = stats["per_eni"].as_array().expect("per-ENI counters");
    for (key, values) in &enis_after.entries {
        if values.iter().all(|v| v.iter().all(|b| *b == 0)) {
            continue;
        }
        let i = u32_le(key, 0);
        let after = enis_after.words(i);
        for (o, name) in OUTCOMES.iter().enumerate() {
            let row = per_eni.iter().find(|r| as_u64(&r["eni_index"]) == u64::from(i) && r["outcome"] == *name);
            let v = row.map_or(0, |r| as_u64(&r["packets"]));
            between(&format!("ENI {i} {name}"), enis_before.words(i)[STATS_DROPS + o], v, after[STATS_DROPS + o]);
        }
    }

    // Maps: type, sizes, capacity from `bpftool map show`, entries counted in the dump.
    let rows = maps.as_array().expect("a list of maps");
    assert_eq!(rows.len(), eplink_dataplane::abi::ALL_MAPS.len(), "every map of ALL_MAPS");
    for row in rows {
        let name = row["name"].as_str().unwrap();
        let path = pin.join(name);
        let show = bpftool(&["map", "show", "pinned", path.to_str().unwrap()]);
        assert_eq!(row["type"], show["type"], "{name} type");
        assert_eq!(row["id"], show["id"], "{name} id");
        assert_eq!(row["key_size"], show["bytes_key"], "{name} key size");
        assert_eq!(row["value_size"], show["bytes_value"], "{name} value size");
        assert_eq!(row["max_entries"], show["max_entries"], "{name} capacity");
        let d = dump(pin, name);
        let entries = if show["type"].as_str().unwrap().contains("array") { d.non_zero() } else { d.entries.len() as u64 };
        if name.ends_with("STATS") {
            // Counters may have started in another slot meanwhile; never fewer.
            assert!(as_u64(&row["entries"]) <= entries, "{name}: {} vs {entries}", row["entries"]);
        } else {
            assert_eq!(as_u64(&row["entries"]), entries, "{name} entries");
        }
    }
}

#[test]
fn dp_without_a_pinned_dataplane_says_so() {
    let dir = std::env::temp_dir().join(format!("eplink-no-pins-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_eplink"))
        .args(["dp", "enis", "--pin-dir"])
        .arg(&dir)
        .env_remove("EPLINK_INVENTORY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("no eplink dataplane pinned at {}", dir.display())), "{err}");
    assert!(err.contains("is eplinkd running"), "{err}");
}

#[test]
fn dp_tables_name_ids_addresses_and_states_never_raw_bytes() {
    let t = Topology::new();
    send_traffic(&t);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_eplink")).arg("dp").args(args).arg("--pin-dir").arg(&t.pin_dir).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let enis = run(&["enis"]);
    assert!(enis.contains(&ENI.to_string()) && enis.contains(&VIP.to_string()) && enis.contains("connected"), "{enis}");
    assert!(enis.contains("names unavailable"), "{enis}");
    let flows = run(&["flows", "--port", &UDP_PORT.to_string()]);
    assert!(flows.contains(&format!("{CLIENT}:")) && flows.contains("udp") && !flows.contains("tcp "), "{flows}");
    assert!(flows.contains("2 flows shown, 4 tracked"), "{flows}");
    let top = run(&["top", "--interval", "0.2", "--count", "1"]);
    assert!(top.contains("FWD BPS") && top.contains("#1") && top.contains("#2"), "{top}");
    let metrics = run(&["metrics"]);
    assert!(metrics.contains("eplink_flows 4\n"), "{metrics}");
    assert!(metrics.contains("eplink_eni_packets_total{eni=\"#1\",eni_index=\"1\",endpoint=\"\",zone=\"\",direction=\"forward\"}"), "{metrics}");
}
