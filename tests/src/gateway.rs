//! A gateway host run by the real `eplinkd`: the namespace topology of
//! `eplink_dataplane::fixture::topo` (no program loaded by the test), an inventory that
//! describes it, the daemon started inside the gateway namespace, and the `eplink` CLI
//! driving it as the provider or a consumer would.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use eplink_dataplane::fixture::{topo::Topology, unique};

/// Account UIDs and keys of the inventory.
pub const PROVIDER: (&str, &str, &str) = ("1111111111111111", "LTAIprovider", "provider-secret");
/// The consumer that owns VPC 1.
pub const CONSUMER1: (&str, &str, &str) = ("2222222222222222", "LTAIconsumer1", "consumer1-secret");
/// The consumer that owns VPC 2.
pub const CONSUMER2: (&str, &str, &str) = ("3333333333333333", "LTAIconsumer2", "consumer2-secret");

/// Zone A and B ids.
pub const ZONE_A: &str = "cn-hangzhou-a";
/// The ENI address `seed` gives consumer 1's endpoint in zone A (vSwitch 10.0.0.0/24).
pub const ENI_A: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 0, 100);
/// ... and in zone B (vSwitch 10.0.1.0/24).
pub const ENI_B: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 1, 100);
/// Zone B id.
pub const ZONE_B: &str = "cn-hangzhou-b";

/// The load balancers' health checks once `Gateway::probe_health` gave each its own port:
/// (load balancer, zone, VIP, health-check port).
pub const HEALTH_CHECKS: [(&str, &str, Ipv4Addr, u16); 3] = [
    ("nlb-a1", ZONE_A, Ipv4Addr::new(192, 0, 2, 10), 8081),
    ("nlb-a2", ZONE_A, Ipv4Addr::new(192, 0, 2, 20), 8082),
    ("nlb-b1", ZONE_B, Ipv4Addr::new(192, 0, 2, 30), 8083),
];

/// Where the workspace's binaries are (`target/<profile>/`, next to the running one).
#[must_use]
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    assert!(p.exists(), "{} is missing: run `cargo build -p eplink-control --bins` (cargo xtask does)", p.display());
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The topology, its inventory and (when started) the daemon; everything is removed on drop.
pub struct Gateway {
    pub dir: PathBuf,
    pub inventory: PathBuf,
    pub api_port: u16,
    pub metrics_port: u16,
    daemon: Option<Child>,
    pub topo: Topology,
}

impl Gateway {
    /// Builds the namespaces and writes the inventory; the daemon is not started.
    #[must_use]
    pub fn new() -> Gateway {
        let topo = Topology::wired();
        let dir = std::env::temp_dir().join(unique("eplink-gw"));
        std::fs::create_dir_all(&dir).expect("work dir");
        // The daemon binds inside the gateway namespace: ports free there are free here too
        // in practice (each namespace has its own loopback), so any free port will do.
        let (api_port, metrics_port, dns_port) = (free_port(), free_port(), free_port());
        let inventory = dir.join("inventory.toml");
        std::fs::write(&inventory, inventory_text(&dir, &topo.pin_dir, api_port, metrics_port, dns_port)).expect("write inventory");
        Gateway { dir, inventory, api_port, metrics_port, daemon: None, topo }
    }

    /// Starts `eplinkd` in the gateway namespace and waits until its API answers.
    pub fn start(&mut self) {
        assert!(self.daemon.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("eplinkd.log")).expect("log");
        let child = self
            .in_gw(&bin("eplinkd"))
            .arg("--inventory")
            .arg(&self.inventory)
            .env("EPLINK_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn eplinkd");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.try_eplink(PROVIDER, &["zones"]).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(Child::try_wait) {
                panic!("eplinkd exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("eplinkd did not answer within 30 s:\n{}", self.log());
    }

    /// A command run in the gateway's network namespace. `nsenter --net`, not `ip netns
    /// exec`: the latter remounts /sys, hiding the host's bpffs and so the pinned maps.
    #[must_use]
    pub fn in_gw(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/var/run/netns/{}", self.topo.gw.name)).arg("--").arg(program);
        c
    }

    /// Stops the daemon with SIGTERM (the dataplane keeps forwarding) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(i32::try_from(c.id()).expect("pid"), libc::SIGTERM) };
            c.wait().ok();
        }
    }

    /// The daemon's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("eplinkd.log")).unwrap_or_default()
    }

    /// The `eplink` CLI as `who`, in the gateway namespace, pointed at this daemon.
    #[must_use]
    pub fn cli(&self, who: (&str, &str, &str)) -> Command {
        let mut c = self.in_gw(&bin("eplink"));
        c.env("EPLINK_ACCESS_KEY_ID", who.1)
            .env("EPLINK_ACCESS_KEY_SECRET", who.2)
            .env("EPLINK_ENDPOINT", format!("127.0.0.1:{}", self.api_port))
            .env("EPLINK_INVENTORY", &self.inventory);
        c
    }

    /// Runs `eplink --json ARGS` as `who` in the gateway namespace; Err carries stderr.
    pub fn try_eplink(&self, who: (&str, &str, &str), args: &[&str]) -> Result<serde_json::Value, String> {
        let out = self.cli(who).arg("--json").args(args).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.into_owned())))
    }

    /// Like `try_eplink`, panicking with the daemon's log on failure.
    #[expect(clippy::must_use_candidate, reason = "run for the command's effect; most callers ignore the reply")]
    pub fn eplink(&self, who: (&str, &str, &str), args: &[&str]) -> serde_json::Value {
        self.try_eplink(who, args).unwrap_or_else(|e| panic!("eplink {args:?}: {e}\n--- eplinkd log ---\n{}", self.log()))
    }

    /// The daemon's Prometheus text (`GET /metrics` inside the gateway namespace). A scrape
    /// reads every pinned map, so it costs seconds on a debug build: poll the log instead.
    pub fn metrics_text(&self) -> Result<String, String> {
        let port = self.metrics_port;
        crate::in_ns(&self.topo.gw, move || {
            use std::io::{Read, Write};
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(10))).ok();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
            let mut out = String::new();
            s.read_to_string(&mut out).map_err(|e| e.to_string())?;
            Ok(out.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or(out))
        })
        .join()
        .map_err(|_| "metrics thread panicked".to_string())?
    }

    /// One unlabelled metric of the daemon (`eplink_reconcile_runs_total`, ...).
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics_text().ok()?;
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// The seed's workflow up to the provider's decision: the provider creates a two-zone
    /// service (manual acceptance) and whitelists consumer 1, who creates a two-zone endpoint
    /// at `ENI_A` and `ENI_B`. Returns (service id, endpoint id).
    #[must_use]
    pub fn seed(&self) -> (String, String) {
        let svc = self.eplink(PROVIDER, &["service", "create", "--type", "nlb", "--resource", "nlb-a1@cn-hangzhou-a", "--resource", "nlb-b1@cn-hangzhou-b"]);
        let svc = field(&svc, "ServiceId").to_string();
        self.eplink(PROVIDER, &["whitelist", "add", &svc, CONSUMER1.0]);
        let ep = self.eplink(
            CONSUMER1,
            &["endpoint", "create", "--service", &svc, "--vpc", "vpc-c1", "--sg", "sg-c1",
              "--zone", &format!("{ZONE_A}:vsw-c1a:{ENI_A}"), "--zone", &format!("{ZONE_B}:vsw-c1b:{ENI_B}")],
        );
        (svc, field(&ep, "EndpointId").to_string())
    }

    /// `seed`, then the provider allows the connection; returns once both zones are
    /// connected in the maps.
    #[expect(clippy::must_use_candidate, reason = "run for its effect; tests that only need traffic ignore the ids")]
    pub fn seed_connected(&self) -> (String, String) {
        let (svc, ep) = self.seed();
        self.eplink(PROVIDER, &["connection", "allow", &svc, &ep]);
        self.wait_for("both zones connected", || {
            self.topo.maps().zone_conns.iter().filter_map(Result::ok).filter(|z| z.state == eplink_dataplane::abi::ZONE_CONNECTED).count() == 2
        });
        (svc, ep)
    }

    /// Turns the daemon's resource health probes on, fast (a round every `interval_ms`, two
    /// failures make a resource unhealthy), and gives every load balancer a health-check port
    /// of its own (`HEALTH_CHECKS`), so one can fail alone. Call before `start`.
    pub fn probe_health(&self, interval_ms: u64) {
        let mut inv = std::fs::read_to_string(&self.inventory).expect("read inventory").replace(
            "[health]\nenabled = false",
            &format!("[health]\nenabled = true\ninterval_ms = {interval_ms}\ntimeout_ms = {}\nfall = 2\nrise = 2", interval_ms / 2),
        );
        for (_, zone, vip, port) in HEALTH_CHECKS {
            let zones = format!("zones = [{{ zone = \"{zone}\", vip = \"{vip}\" }}]");
            let old = format!("health_check_port = 80\n{zones}");
            assert!(inv.contains(&old), "inventory layout changed: {old}");
            inv = inv.replace(&old, &format!("health_check_port = {port}\n{zones}"));
        }
        std::fs::write(&self.inventory, inv).expect("write inventory");
    }

    /// A load balancer's health check: a TCP listener on `addr` in the provider namespace,
    /// closed as soon as `down` is set.
    pub fn health_listener(&self, addr: SocketAddr, down: Arc<AtomicBool>) {
        let (tx, rx) = std::sync::mpsc::channel();
        crate::in_ns(&self.topo.provider, move || {
            let l = TcpListener::bind(addr).expect("bind health port");
            l.set_nonblocking(true).expect("nonblocking");
            tx.send(()).ok();
            while !down.load(Ordering::Relaxed) {
                if l.accept().is_err() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("health listener up");
    }

    /// Polls `cond` until it holds (the reconciler applies commits asynchronously).
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}\n--- eplinkd log ---\n{}", self.log());
    }
}

/// A string field of a JSON reply, or a panic naming it.
#[must_use]
pub fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v.get(name).and_then(serde_json::Value::as_str).unwrap_or_else(|| panic!("no {name} in {v}"))
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            c.kill().ok();
            c.wait().ok();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The inventory of the topology: two zones (provider links `p0`, `p1`), two consumer
/// accounts whose VPCs (`c1`, `c2`) use the same CIDRs, three load balancers.
#[must_use]
pub fn inventory_text(dir: &Path, pin_dir: &Path, api: u16, metrics: u16, dns: u16) -> String {
    let (p, c1, c2) = (PROVIDER, CONSUMER1, CONSUMER2);
    let settings = format!(
        r#"region = "cn-hangzhou"

[api]
listen = "127.0.0.1:{api}"

[dns]
listen = "127.0.0.1:{dns}"

[store]
path = "{store}"

[dataplane]
pin_dir = "{pin}"
metrics_listen = "127.0.0.1:{metrics}"
reconcile_interval_ms = 1000

# Tests start their servers after the daemon; the R24 test turns probes on.
[health]
enabled = false

[[zones]]
id = "{ZONE_A}"
gateway_interface = "p0"
snat_pool = ["100.64.0.1", "100.64.0.2"]

[[zones]]
id = "{ZONE_B}"
gateway_interface = "p1"
snat_pool = ["100.64.1.1", "100.64.1.2"]

[[accounts]]
uid = {pu}
name = "provider"
access_keys = [{{ id = "{pk}", secret = "{ps}" }}]

[[accounts]]
uid = {c1u}
name = "consumer1"
access_keys = [{{ id = "{c1k}", secret = "{c1s}" }}]

[[accounts]]
uid = {c2u}
name = "consumer2"
access_keys = [{{ id = "{c2k}", secret = "{c2s}" }}]

"#,
        store = dir.join("state.db").display(),
        pin = pin_dir.display(),
        pu = p.0,
        pk = p.1,
        ps = p.2,
        c1u = c1.0,
        c1k = c1.1,
        c1s = c1.2,
        c2u = c2.0,
        c2k = c2.1,
        c2s = c2.2,
    );
    settings + &resources_text()
}

/// The cloud resources the inventory describes: the consumers' VPCs, vSwitches and security
/// groups (both VPCs use the same CIDRs), and the provider's load balancers.
fn resources_text() -> String {
    let (pu, c1u, c2u) = (PROVIDER.0, CONSUMER1.0, CONSUMER2.0);
    format!(
        r#"[[vpcs]]
id = "vpc-c1"
owner = {c1u}
gateway_interface = "c1"

[[vpcs]]
id = "vpc-c2"
owner = {c2u}
gateway_interface = "c2"

[[vswitches]]
id = "vsw-c1a"
vpc = "vpc-c1"
zone = "{ZONE_A}"
cidr = "10.0.0.0/24"

[[vswitches]]
id = "vsw-c1b"
vpc = "vpc-c1"
zone = "{ZONE_B}"
cidr = "10.0.1.0/24"

[[vswitches]]
id = "vsw-c2a"
vpc = "vpc-c2"
zone = "{ZONE_A}"
cidr = "10.0.0.0/24"

[[vswitches]]
id = "vsw-c2b"
vpc = "vpc-c2"
zone = "{ZONE_B}"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-c1"
owner = {c1u}
vpc = "vpc-c1"
rules = [{{ priority = 1, protocol = "all", source = "0.0.0.0/0", policy = "accept" }}]

[[security_groups]]
id = "sg-c2"
owner = {c2u}
vpc = "vpc-c2"
rules = [{{ priority = 1, protocol = "all", source = "0.0.0.0/0", policy = "accept" }}]

[[load_balancers]]
id = "nlb-a1"
type = "nlb"
owner = {pu}
bandwidth_mbps = 10000
health_check_port = 80
zones = [{{ zone = "{ZONE_A}", vip = "192.0.2.10" }}]

[[load_balancers]]
id = "nlb-a2"
type = "nlb"
owner = {pu}
bandwidth_mbps = 10000
health_check_port = 80
zones = [{{ zone = "{ZONE_A}", vip = "192.0.2.20" }}]

[[load_balancers]]
id = "nlb-b1"
type = "nlb"
owner = {pu}
bandwidth_mbps = 10000
health_check_port = 80
zones = [{{ zone = "{ZONE_B}", vip = "192.0.2.30" }}]
"#
    )
}
