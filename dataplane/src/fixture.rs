//! Test and benchmark support: throw-away network namespaces, frames built layer by layer,
//! and `BPF_PROG_TEST_RUN` of the XDP program with a chosen ingress interface.
//!
//! `bpf_fib_lookup` and the ingress ifindex resolve in the calling thread's network
//! namespace, so a fixture enters its own namespace (with a consumer and a provider veth,
//! a route to the service addresses and a static neighbour) before running packets.
#![expect(clippy::missing_panics_doc, reason = "test support: a set-up that fails panics with its cause")]

use std::{
    fs::File,
    net::Ipv4Addr,
    os::fd::AsRawFd,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use aya::programs::{TestRun, TestRunOptions, Xdp};
use etherparse::PacketBuilder;

/// Runs a command, panicking with its output if it fails (fixture set-up must not half-work).
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A uniquely named network namespace, deleted on drop (also when a test panics).
pub struct Netns {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call, with a short prefix (interface names are short).
#[must_use]
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Netns {
    /// Creates a fresh namespace with loopback up.
    #[must_use]
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full);
    }

    /// Moves the calling thread into this namespace until the guard drops.
    #[must_use]
    pub fn enter(&self) -> Entered {
        enter_netns(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ignored = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Moves the calling thread into the named namespace until the guard drops.
#[must_use]
pub fn enter_netns(name: &str) -> Entered {
    let home = File::open("/proc/thread-self/ns/net").expect("open own netns");
    let target = File::open(PathBuf::from("/var/run/netns").join(name)).expect("open netns");
    // SAFETY: setns on a namespace fd we own; affects only the calling thread.
    let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns into {name}: {}", std::io::Error::last_os_error());
    Entered { home }
}

/// Returns the thread to its original namespace on drop.
pub struct Entered {
    home: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: as in `Netns::enter`.
        unsafe { libc::setns(self.home.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}

/// The ifindex of an interface in the calling thread's namespace.
#[must_use]
pub fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).expect("no NUL in interface names");
    // SAFETY: NUL-terminated string we own.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "no interface {name}");
    i
}

/// MAC of the client in fixtures.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x01];
/// MAC of the gateway's consumer-facing interface in fixtures.
pub const GW_CONSUMER_MAC: [u8; 6] = [0x02, 0x9a, 0, 0, 0, 0x01];
/// MAC of the gateway's provider-facing interface in fixtures.
pub const GW_PROVIDER_MAC: [u8; 6] = [0x02, 0x9a, 0, 0, 0, 0x02];
/// MAC of the provider-side next hop (the load balancer's router) in fixtures.
pub const NEXT_HOP_MAC: [u8; 6] = [0x02, 0x1b, 0, 0, 0, 0x01];
/// Provider-side next hop address.
pub const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
/// Service addresses (VIPs) are routed via `NEXT_HOP`.
pub const VIP_NET: &str = "192.0.2.0/24";

/// A gateway namespace for `test_run`: consumer interface `c0`, provider interface `p0`
/// routing `VIP_NET` via a static neighbour, forwarding on.
pub struct GatewayNs {
    pub ns: Netns,
    pub consumer_if: u32,
    pub provider_if: u32,
}

impl GatewayNs {
    /// Builds the namespace. Enter it (`ns.enter()`) before running packets.
    #[must_use]
    pub fn new() -> GatewayNs {
        let ns = Netns::new("eplfx");
        let mac = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        ns.exec(&["ip", "link", "add", "c0", "address", &mac(GW_CONSUMER_MAC), "type", "veth", "peer", "c0x"]);
        ns.exec(&["ip", "link", "add", "p0", "address", &mac(GW_PROVIDER_MAC), "type", "veth", "peer", "p0x"]);
        for dev in ["c0", "c0x", "p0", "p0x"] {
            ns.exec(&["ip", "link", "set", dev, "up"]);
        }
        ns.exec(&["ip", "addr", "add", "10.200.0.1/24", "dev", "p0"]);
        ns.exec(&["ip", "neigh", "replace", &NEXT_HOP.to_string(), "lladdr", &mac(NEXT_HOP_MAC), "dev", "p0", "nud", "permanent"]);
        ns.exec(&["ip", "route", "add", VIP_NET, "via", &NEXT_HOP.to_string(), "dev", "p0"]);
        ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let (consumer_if, provider_if) = {
            let _in = ns.enter();
            (ifindex("c0"), ifindex("p0"))
        };
        GatewayNs { ns, consumer_if, provider_if }
    }
}

impl Default for GatewayNs {
    fn default() -> Self {
        Self::new()
    }
}

/// Layer-by-layer frame builders.
pub mod frame {
    use super::{Ipv4Addr, PacketBuilder};

    /// TCP flags for `tcp`.
    #[derive(Clone, Copy, Debug, Default)]
    #[expect(clippy::struct_excessive_bools, reason = "one bool per TCP flag, as on the wire")]
    pub struct Flags {
        pub syn: bool,
        pub ack: bool,
        pub fin: bool,
        pub rst: bool,
    }

    /// SYN.
    pub const SYN: Flags = Flags { syn: true, ack: false, fin: false, rst: false };
    /// SYN+ACK.
    pub const SYN_ACK: Flags = Flags { syn: true, ack: true, fin: false, rst: false };
    /// ACK.
    pub const ACK: Flags = Flags { syn: false, ack: true, fin: false, rst: false };

    /// Ethernet + IPv4 + TCP with a correct checksum.
    #[must_use]
    pub fn tcp(macs: ([u8; 6], [u8; 6]), src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), flags: Flags, payload: &[u8]) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(src.0.octets(), dst.0.octets(), 64)
            .tcp(src.1, dst.1, 1000, 64_000);
        if flags.syn {
            b = b.syn();
        }
        if flags.ack {
            b = b.ack(1);
        }
        if flags.fin {
            b = b.fin();
        }
        if flags.rst {
            b = b.rst();
        }
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).expect("writing to a Vec cannot fail");
        out
    }

    /// Ethernet + IPv4 + UDP with a correct checksum.
    #[must_use]
    pub fn udp(macs: ([u8; 6], [u8; 6]), src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(macs.0, macs.1).ipv4(src.0.octets(), dst.0.octets(), 64).udp(src.1, dst.1);
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).expect("writing to a Vec cannot fail");
        out
    }

    /// Ethernet + IPv4 + ICMP echo request.
    #[must_use]
    pub fn icmp_echo(macs: ([u8; 6], [u8; 6]), src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(macs.0, macs.1).ipv4(src.octets(), dst.octets(), 64).icmpv4_echo_request(1, 1);
        let mut out = Vec::with_capacity(b.size(8));
        b.write(&mut out, &[0u8; 8]).expect("writing to a Vec cannot fail");
        out
    }

    /// Recomputes the IPv4 header checksum of a frame with an untagged IPv4 header at 14.
    pub fn fix_ipv4_checksum(f: &mut [u8]) {
        let ihl = (usize::from(f[14] & 0x0f) * 4).min(f.len() - 14);
        f[24] = 0;
        f[25] = 0;
        let c = eplink_abi::csum::checksum(&f[14..14 + ihl]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    }
}

/// The result of one `test_run`.
#[derive(Debug)]
pub struct RunResult {
    /// The XDP action the program returned.
    pub action: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// Nanoseconds per run, as the kernel measured them.
    pub ns: u64,
}

/// XDP actions.
pub const XDP_DROP: u32 = 1;
/// `XDP_PASS`.
pub const XDP_PASS: u32 = 2;
/// `XDP_TX`.
pub const XDP_TX: u32 = 3;
/// `XDP_REDIRECT`.
pub const XDP_REDIRECT: u32 = 4;

/// Runs `frame` through the program `repeat` times as if received on `ingress_ifindex`.
pub fn run(prog: &Xdp, frame: &[u8], ingress_ifindex: u32, repeat: u32) -> Result<RunResult, aya::programs::ProgramError> {
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
    let mut ctx = [0u8; 24];
    #[expect(clippy::cast_possible_truncation, reason = "frames are far below 4 GiB")]
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
    let mut out = vec![0u8; frame.len() + 256];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: Some(&ctx),
        repeat,
        ..TestRunOptions::default()
    };
    let r = prog.test_run(opts)?;
    out.truncate(r.data_size_out as usize);
    #[expect(clippy::cast_possible_truncation, reason = "per-run durations are tiny")]
    let ns = r.duration.as_nanos() as u64;
    Ok(RunResult { action: r.return_value, frame: out, ns })
}

/// A whole gateway in namespaces: two consumer VPCs with the same CIDR (and the same ENI
/// address), a gateway running the XDP program on its three interfaces, and a provider
/// whose "load balancer" addresses are local, so real servers can listen on them.
///
/// ```text
///  vpc1: eth0 10.0.0.5 ── c1 (ENI 10.0.0.100/32) ┐
///                                                  gateway: p0 10.200.0.1 ── pp0 10.200.0.2 provider
///  vpc2: eth0 10.0.0.5 ── c2 (ENI 10.0.0.100/32) ┘   (VIPs 192.0.2.10, .20 on lo; SNAT pool routed back)
/// ```
///
/// The ENI addresses are on the consumer interfaces so the kernel answers ARP for them;
/// the program answers pings itself, because the kernel (no VRF on this kernel) could not
/// route a reply to one of two VPCs with the same CIDR.
pub mod topo {
    use std::{net::Ipv4Addr, path::PathBuf};

    use super::{ifindex, unique, Netns};
    use crate::{Dataplane, LoadOptions, Maps};
    use eplink_abi::{bucket::Limit, ZoneConn, FAMILY_V4, ZONE_CONNECTED};

    /// Client address in both VPCs.
    pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
    /// ENI address in both VPCs.
    pub const ENI: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    /// The load balancer VIP ENIs are connected to.
    pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    /// A second VIP in zone A, for re-allocation.
    pub const VIP2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
    /// Zone B's VIP.
    pub const VIP_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 30);
    /// Zone B's SNAT pool.
    pub const SNAT_B: [Ipv4Addr; 2] = [Ipv4Addr::new(100, 64, 1, 1), Ipv4Addr::new(100, 64, 1, 2)];
    /// The zone's SNAT pool.
    pub const SNAT: [Ipv4Addr; 2] = [Ipv4Addr::new(100, 64, 0, 1), Ipv4Addr::new(100, 64, 0, 2)];
    /// ENI index of VPC 1's ENI; VPC 2's is `ENI_INDEX + 1`.
    pub const ENI_INDEX: u32 = 1;

    /// The namespaces and the pinned dataplane; everything is removed on drop.
    pub struct Topology {
        pub gw: Netns,
        pub vpcs: [Netns; 2],
        pub provider: Netns,
        pub pin_dir: PathBuf,
    }

    fn mac_of(ns: &Netns, dev: &str) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "cat", &format!("/sys/class/net/{dev}/address")])
            .output()
            .expect("read MAC");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    impl Topology {
        /// Builds the namespaces, loads and attaches the program, and connects both VPCs'
        /// ENIs to `VIP`.
        #[must_use]
        pub fn new() -> Topology {
            let t = Topology::wired();
            for c in ["c1", "c2"] {
                t.gw.exec(&["ip", "addr", "add", &format!("{ENI}/32"), "dev", c]);
            }
            t.load();
            t
        }

        /// The namespaces and links only, with no program loaded and no ENI address:
        /// what a gateway host looks like before `eplinkd` starts on it. Two zones: zone A
        /// reaches the provider through `p0` (VIPs `VIP`, `VIP2`), zone B through `p1`
        /// (`VIP_B`); consumers reach zone B's ENIs (10.0.1.0/24) on the same link.
        #[must_use]
        pub fn wired() -> Topology {
            let gw = Netns::new("eplgw");
            let vpcs = [Netns::new("eplv1"), Netns::new("eplv2")];
            let provider = Netns::new("eplpr");
            let pin_dir = PathBuf::from("/sys/fs/bpf").join(unique("epltopo"));
            let t = Topology { gw, vpcs, provider, pin_dir };
            t.wire();
            t
        }

        fn wire(&self) {
            let gw = &self.gw;
            gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            gw.exec(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"]);
            gw.exec(&["sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0"]);
            for (i, vpc) in self.vpcs.iter().enumerate() {
                let c = format!("c{}", i + 1);
                gw.exec(&["ip", "link", "add", &c, "type", "veth", "peer", "name", "eth0", "netns", &vpc.name]);
                gw.exec(&["ip", "link", "set", &c, "up"]);
                vpc.exec(&["ip", "addr", "add", &format!("{CLIENT}/24"), "dev", "eth0"]);
                vpc.exec(&["ip", "link", "set", "eth0", "up"]);
                // Zone B's vSwitch: on the same link, so ARP finds the gateway's ENIs there.
                vpc.exec(&["ip", "route", "add", "10.0.1.0/24", "dev", "eth0"]);
                // XDP_REDIRECT into a veth needs NAPI on the receiving end (GRO on, or an XDP
                // program); full checksums on the sender, because the program updates them
                // incrementally and a partial (offloaded) checksum is not a checksum yet.
                vpc.exec(&["ethtool", "-K", "eth0", "gro", "on", "tx", "off"]);
            }
            gw.exec(&["ip", "link", "add", "p0", "type", "veth", "peer", "name", "pp0", "netns", &self.provider.name]);
            gw.exec(&["ip", "addr", "add", "10.200.0.1/24", "dev", "p0"]);
            gw.exec(&["ip", "link", "set", "p0", "up"]);
            gw.exec(&["ip", "route", "add", "192.0.2.0/24", "via", "10.200.0.2", "dev", "p0"]);
            let pr = &self.provider;
            pr.exec(&["ip", "addr", "add", "10.200.0.2/24", "dev", "pp0"]);
            pr.exec(&["ip", "link", "set", "pp0", "up"]);
            pr.exec(&["ethtool", "-K", "pp0", "gro", "on", "tx", "off"]);
            for vip in [VIP, VIP2] {
                pr.exec(&["ip", "addr", "add", &format!("{vip}/32"), "dev", "lo"]);
            }
            pr.exec(&["ip", "route", "add", "100.64.0.0/24", "via", "10.200.0.1", "dev", "pp0"]);
            // Zone B: its own provider link, VIP and SNAT pool.
            gw.exec(&["ip", "link", "add", "p1", "type", "veth", "peer", "name", "pp1", "netns", &pr.name]);
            gw.exec(&["ip", "addr", "add", "10.200.1.1/24", "dev", "p1"]);
            gw.exec(&["ip", "link", "set", "p1", "up"]);
            gw.exec(&["ip", "route", "add", &format!("{VIP_B}/32"), "via", "10.200.1.2", "dev", "p1"]);
            pr.exec(&["ip", "addr", "add", "10.200.1.2/24", "dev", "pp1"]);
            pr.exec(&["ip", "link", "set", "pp1", "up"]);
            pr.exec(&["ethtool", "-K", "pp1", "gro", "on", "tx", "off"]);
            pr.exec(&["ip", "addr", "add", &format!("{VIP_B}/32"), "dev", "lo"]);
            pr.exec(&["ip", "route", "add", "100.64.1.0/24", "via", "10.200.1.1", "dev", "pp1"]);
            // Resolve the provider next hops now, so even the first packet takes the XDP path.
            for (p, pp, gw_ip, pr_ip) in [("p0", "pp0", "10.200.0.1", "10.200.0.2"), ("p1", "pp1", "10.200.1.1", "10.200.1.2")] {
                let nh_mac = mac_of(pr, pp);
                gw.exec(&["ip", "neigh", "replace", pr_ip, "lladdr", &nh_mac, "dev", p, "nud", "permanent"]);
                let gw_mac = mac_of(gw, p);
                pr.exec(&["ip", "neigh", "replace", gw_ip, "lladdr", &gw_mac, "dev", pp, "nud", "permanent"]);
            }
        }

        fn load(&self) {
            let _in = self.gw.enter();
            let mut dp = Dataplane::load(&LoadOptions::new(&self.pin_dir)).expect("load the XDP program");
            for dev in ["c1", "c2", "p0"] {
                dp.attach(dev).unwrap_or_else(|e| panic!("attach {dev}: {e}"));
            }
            let p0 = ifindex("p0");
            let m = dp.maps_mut();
            m.set_provider_iface(p0).unwrap();
            m.set_snat_pool(0, &SNAT).unwrap();
            for vpc in 1..=2u32 {
                m.set_consumer_iface(ifindex(&format!("c{vpc}")), 0, vpc, p0).unwrap();
                let idx = ENI_INDEX + vpc - 1;
                m.set_zone_conn(idx, &zone_conn(ZONE_CONNECTED, VIP, 0)).unwrap();
                m.set_eni(vpc, ENI.into(), idx).unwrap();
            }
        }

        /// The pinned maps, as an operator would open them.
        #[must_use]
        pub fn maps(&self) -> Maps {
            Maps::open_pinned(&self.pin_dir).expect("open pinned maps")
        }
    }

    impl Default for Topology {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Drop for Topology {
        fn drop(&mut self) {
            Dataplane::remove_pins(&self.pin_dir).ok();
        }
    }

    /// A zone connection in `state` to `vip` with a limit of `mbps` (0 = none).
    #[must_use]
    pub fn zone_conn(state: u32, vip: Ipv4Addr, mbps: u64) -> ZoneConn {
        let l = Limit::from_mbps(mbps);
        ZoneConn {
            state,
            generation: 1,
            zone: 0,
            family: FAMILY_V4,
            _pad: [0; 3],
            vip: crate::v4(vip),
            cost_per_byte_q16: l.cost_per_byte_q16,
            tolerance_ticks: l.tolerance_ticks,
        }
    }
}
