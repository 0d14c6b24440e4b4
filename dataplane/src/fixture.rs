//! Test and benchmark support: throw-away network namespaces, frames built layer by layer,
//! and `BPF_PROG_TEST_RUN` of the XDP program with a chosen ingress interface.
//!
//! `bpf_fib_lookup` and the ingress ifindex resolve in the calling thread's network
//! namespace, so a fixture enters its own namespace (with a consumer and a provider veth,
//! a route to the service addresses and a static neighbour) before running packets.

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
        let home = File::open("/proc/thread-self/ns/net").expect("open own netns");
        let target = File::open(PathBuf::from("/var/run/netns").join(&self.name)).expect("open netns");
        // SAFETY: setns on a namespace fd we own; affects only the calling thread.
        let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        Entered { home }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ignored = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
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
/// XDP_PASS.
pub const XDP_PASS: u32 = 2;
/// XDP_REDIRECT.
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
