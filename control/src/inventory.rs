//! The inventory: what the rest of the cloud would provide (region, zones, accounts, VPCs,
//! vSwitches, security groups, load balancers, gateway interfaces), read from a TOML file and
//! validated at start-up with errors that name the offending field.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnetwork::{Ipv4Network, Ipv6Network};
use serde::{Deserialize, Serialize};

/// Errors raised while loading or validating an inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("cannot read inventory {path}: {source}")]
    Read {
        /// Path of the file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for the schema.
    #[error("inventory {path}: {message}")]
    Parse {
        /// Path of the file.
        path: PathBuf,
        /// The parser's message (it names the key and line).
        message: String,
    },
    /// A field has an invalid value; `field` is the path, e.g. `vswitches[2].cidr`.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field, e.g. `vswitches[2].cidr`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InventoryError {
    InventoryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The whole inventory file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The region this installation serves, e.g. `cn-hangzhou`.
    pub region: String,
    /// Human-readable region name (DescribeRegions `LocalName`).
    #[serde(default)]
    pub region_name: Option<String>,
    /// Service name prefix: names are `<prefix>.<region>.epsrv-…`.
    #[serde(default = "default_prefix")]
    pub service_name_prefix: String,
    /// Domain suffix: endpoint domains are `ep-….epsrv-….<region>.privatelink.<suffix>`.
    #[serde(default = "default_suffix")]
    pub domain_suffix: String,
    /// API server settings.
    #[serde(default)]
    pub api: ApiConfig,
    /// DNS server settings.
    #[serde(default)]
    pub dns: DnsConfig,
    /// Store settings.
    pub store: StoreConfig,
    /// Dataplane settings (XDP program, pinned maps, flow timeouts).
    #[serde(default)]
    pub dataplane: DataplaneConfig,
    /// Health probes of service resources (R24).
    #[serde(default)]
    pub health: HealthConfig,
    /// Zones of the region.
    pub zones: Vec<Zone>,
    /// Accounts and their AccessKeys.
    pub accounts: Vec<Account>,
    /// VPCs.
    #[serde(default)]
    pub vpcs: Vec<Vpc>,
    /// vSwitches.
    #[serde(default)]
    pub vswitches: Vec<VSwitch>,
    /// Security groups.
    #[serde(default)]
    pub security_groups: Vec<SecurityGroup>,
    /// Load balancers that can become service resources.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
}

fn default_prefix() -> String {
    "com.aliyuncs.privatelink".to_owned()
}
fn default_suffix() -> String {
    "aliyuncs.com".to_owned()
}

/// API server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address of the HTTP API.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// Largest accepted clock skew of `x-acs-date`, in seconds.
    #[serde(default = "default_skew")]
    pub max_clock_skew_s: u64,
}
impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_api_listen(),
            max_clock_skew_s: default_skew(),
        }
    }
}
fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_skew() -> u64 {
    900
}

/// DNS server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Listen address (UDP and TCP) of the authoritative DNS server.
    #[serde(default = "default_dns_listen")]
    pub listen: SocketAddr,
}
impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: default_dns_listen(),
        }
    }
}
fn default_dns_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8053))
}

/// Health probes of service resources (R24): every `interval_ms` the daemon connects (TCP)
/// to each attached resource's VIP and `health_check_port`; `fall` failures in a row make a
/// resource unhealthy and move its zone connections to another resource of the same zone,
/// `rise` successes make it healthy again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Whether the daemon probes at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Time between probe rounds, in milliseconds.
    #[serde(default = "default_health_interval_ms")]
    pub interval_ms: u64,
    /// Connect timeout of one probe, in milliseconds (below `interval_ms`).
    #[serde(default = "default_health_timeout_ms")]
    pub timeout_ms: u64,
    /// Failures in a row that make a healthy resource unhealthy.
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// Successes in a row that make an unhealthy resource healthy.
    #[serde(default = "default_rise")]
    pub rise: u32,
}
impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: default_true(),
            interval_ms: default_health_interval_ms(),
            timeout_ms: default_health_timeout_ms(),
            fall: default_fall(),
            rise: default_rise(),
        }
    }
}
fn default_true() -> bool {
    true
}
fn default_health_interval_ms() -> u64 {
    2_000
}
fn default_health_timeout_ms() -> u64 {
    1_000
}
fn default_fall() -> u32 {
    3
}
fn default_rise() -> u32 {
    2
}

/// Dataplane settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneConfig {
    /// bpffs directory where the XDP program's maps and links are pinned; a restarted
    /// daemon adopts them from here, and `eplink dp …` reads them from here.
    #[serde(default = "default_pin_dir")]
    pub pin_dir: PathBuf,
    /// Capacity of each flow table.
    #[serde(default = "default_max_flows")]
    pub max_flows: u32,
    /// Idle timeout of established TCP flows, in seconds.
    #[serde(default = "default_tcp_established_s")]
    pub tcp_established_timeout_s: u64,
    /// Idle timeout of TCP flows that saw a FIN or RST, in seconds.
    #[serde(default = "default_tcp_closing_s")]
    pub tcp_closing_timeout_s: u64,
    /// Idle timeout of UDP flows, in seconds.
    #[serde(default = "default_udp_s")]
    pub udp_timeout_s: u64,
    /// How often the reconciler re-checks the maps even without a commit, in milliseconds.
    #[serde(default = "default_reconcile_ms")]
    pub reconcile_interval_ms: u64,
    /// Prometheus metrics listen address (`GET /metrics`).
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: SocketAddr,
}
impl Default for DataplaneConfig {
    fn default() -> Self {
        Self {
            pin_dir: default_pin_dir(),
            max_flows: default_max_flows(),
            tcp_established_timeout_s: default_tcp_established_s(),
            tcp_closing_timeout_s: default_tcp_closing_s(),
            udp_timeout_s: default_udp_s(),
            reconcile_interval_ms: default_reconcile_ms(),
            metrics_listen: default_metrics_listen(),
        }
    }
}
fn default_pin_dir() -> PathBuf {
    PathBuf::from("/sys/fs/bpf/eplink")
}
fn default_max_flows() -> u32 {
    1_048_576
}
fn default_tcp_established_s() -> u64 {
    900
}
fn default_tcp_closing_s() -> u64 {
    10
}
fn default_udp_s() -> u64 {
    60
}
fn default_reconcile_ms() -> u64 {
    5_000
}
fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

/// Store settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite database path; relative paths are relative to the inventory file.
    pub path: PathBuf,
}

/// A zone of the region, with its gateway's provider-facing interface and SNAT pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Zone id, e.g. `cn-hangzhou-a`.
    pub id: String,
    /// Human-readable name (DescribeZones `LocalName`).
    #[serde(default)]
    pub name: Option<String>,
    /// Provider-facing interface of this zone's gateway (leads to the load balancers).
    pub gateway_interface: String,
    /// Source addresses used to translate consumer traffic in this zone.
    pub snat_pool: Vec<Ipv4Addr>,
}

/// An account with its AccessKey pairs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Numeric account UID.
    pub uid: i64,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// AccessKey pairs.
    pub access_keys: Vec<AccessKey>,
}

/// One AccessKey pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// AccessKey id.
    pub id: String,
    /// AccessKey secret.
    pub secret: String,
}

/// A VPC, reached by every zone gateway on its own interface.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// Owner account UID.
    pub owner: i64,
    /// Interface (on each zone's gateway) that leads into this VPC.
    pub gateway_interface: String,
}

/// A vSwitch: one zone of one VPC with one IPv4 CIDR.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitch {
    /// `vsw-…`.
    pub id: String,
    /// The VPC.
    pub vpc: String,
    /// The zone.
    pub zone: String,
    /// IPv4 block.
    pub cidr: Ipv4Network,
    /// Optional IPv6 /64.
    #[serde(default)]
    pub ipv6_cidr: Option<Ipv6Network>,
}

/// A security group with ordered inbound rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Owner account UID.
    pub owner: i64,
    /// The VPC it belongs to.
    pub vpc: String,
    /// Inbound rules; lower priority value wins, ties keep file order.
    #[serde(default)]
    pub rules: Vec<SgRule>,
}

/// Protocols a security-group rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SgProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (v4 and v6).
    Icmp,
    /// Every protocol.
    All,
}

/// Verdict of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SgPolicy {
    /// Let the packet in.
    Accept,
    /// Drop it.
    Drop,
}

/// One inbound rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgRule {
    /// 1 (highest) to 100.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Protocol.
    pub protocol: SgProtocol,
    /// Destination port range `[from, to]`, inclusive; ignored for icmp/all.
    #[serde(default = "default_ports")]
    pub ports: [u16; 2],
    /// Source CIDR (IPv4 or IPv6).
    pub source: ipnetwork::IpNetwork,
    /// Verdict.
    pub policy: SgPolicy,
}
fn default_priority() -> u8 {
    1
}
fn default_ports() -> [u16; 2] {
    [1, 65535]
}

/// Load balancer types (service resource types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbType {
    /// Network load balancer (`nlb-…`).
    Nlb,
    /// Application load balancer (`alb-…`).
    Alb,
    /// Classic load balancer (`lb-…`).
    Clb,
}

impl LbType {
    /// The API's `ResourceType` value.
    #[must_use]
    pub fn api_name(self) -> &'static str {
        match self {
            LbType::Nlb => "nlb",
            LbType::Alb => "alb",
            LbType::Clb => "slb",
        }
    }
    /// Parses the API's `ResourceType` value (`slb` and `clb` both mean CLB).
    #[must_use]
    pub fn from_api(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nlb" => Some(LbType::Nlb),
            "alb" => Some(LbType::Alb),
            "slb" | "clb" => Some(LbType::Clb),
            _ => None,
        }
    }
    fn id_prefix(self) -> &'static str {
        match self {
            LbType::Nlb => "nlb-",
            LbType::Alb => "alb-",
            LbType::Clb => "lb-",
        }
    }
}

/// A load balancer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// `nlb-…`, `alb-…` or `lb-…`.
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub lb_type: LbType,
    /// Owner account UID.
    pub owner: i64,
    /// Whether the LB can serve IPv6 (CLB never can).
    #[serde(default)]
    pub dual_stack: bool,
    /// Bandwidth capacity in Mbps (used to weigh automatic allocation).
    pub bandwidth_mbps: u32,
    /// Port the health prober connects to.
    pub health_check_port: u16,
    /// Whether the LB is reachable from the internet (informational).
    #[serde(default)]
    pub public: bool,
    /// Per-zone addresses (VIPs).
    pub zones: Vec<LbZone>,
}

/// An LB's presence in one zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbZone {
    /// The zone.
    pub zone: String,
    /// IPv4 VIP.
    pub vip: Ipv4Addr,
    /// IPv6 VIP (dual-stack LBs only).
    #[serde(default)]
    pub vip6: Option<Ipv6Addr>,
}

impl Inventory {
    /// Reads, parses and validates the inventory at `path`. A relative store path is resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut inv = Self::parse(&text).map_err(|e| match e {
            InventoryError::Parse { message, .. } => InventoryError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        if inv.store.path.is_relative()
            && let Some(dir) = path.parent()
        {
            inv.store.path = dir.join(&inv.store.path);
        }
        Ok(inv)
    }

    /// Parses and validates inventory text.
    pub fn parse(text: &str) -> Result<Self, InventoryError> {
        let inv: Inventory = toml::from_str(text).map_err(|e| InventoryError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        inv.validate()?;
        Ok(inv)
    }

    /// Checks cross references and value ranges.
    #[expect(clippy::too_many_lines, reason = "one flat list of checks reads best")]
    pub fn validate(&self) -> Result<(), InventoryError> {
        if !is_name(&self.region) {
            return Err(invalid(
                "region",
                "must be a lowercase name like cn-hangzhou",
            ));
        }
        if self.zones.is_empty() {
            return Err(invalid("zones", "at least one zone is required"));
        }
        let h = &self.health;
        if h.interval_ms < 100 {
            return Err(invalid("health.interval_ms", "must be at least 100"));
        }
        if h.timeout_ms == 0 || h.timeout_ms >= h.interval_ms {
            return Err(invalid("health.timeout_ms", "must be positive and below health.interval_ms"));
        }
        if h.fall == 0 || h.rise == 0 {
            return Err(invalid(if h.fall == 0 { "health.fall" } else { "health.rise" }, "must be at least 1"));
        }
        let mut zones = BTreeSet::new();
        for (i, z) in self.zones.iter().enumerate() {
            if !z.id.starts_with(&format!("{}-", self.region)) || !is_name(&z.id) {
                return Err(invalid(
                    format!("zones[{i}].id"),
                    format!(
                        "{:?} must be the region followed by a suffix, e.g. {}-a",
                        z.id, self.region
                    ),
                ));
            }
            if !zones.insert(z.id.as_str()) {
                return Err(invalid(
                    format!("zones[{i}].id"),
                    format!("duplicate zone {:?}", z.id),
                ));
            }
            check_ifname(
                &format!("zones[{i}].gateway_interface"),
                &z.gateway_interface,
            )?;
            if z.snat_pool.is_empty() {
                return Err(invalid(
                    format!("zones[{i}].snat_pool"),
                    "at least one address is required",
                ));
            }
        }
        if self.accounts.is_empty() {
            return Err(invalid("accounts", "at least one account is required"));
        }
        let mut uids = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if a.uid <= 0 {
                return Err(invalid(
                    format!("accounts[{i}].uid"),
                    "must be a positive integer",
                ));
            }
            if !uids.insert(a.uid) {
                return Err(invalid(
                    format!("accounts[{i}].uid"),
                    format!("duplicate uid {}", a.uid),
                ));
            }
            if a.access_keys.is_empty() {
                return Err(invalid(
                    format!("accounts[{i}].access_keys"),
                    "at least one key is required",
                ));
            }
            for (j, k) in a.access_keys.iter().enumerate() {
                if k.id.is_empty() || !k.id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(invalid(
                        format!("accounts[{i}].access_keys[{j}].id"),
                        "must be non-empty ASCII alphanumeric",
                    ));
                }
                if k.secret.len() < 8 {
                    return Err(invalid(
                        format!("accounts[{i}].access_keys[{j}].secret"),
                        "must be at least 8 characters",
                    ));
                }
                if !keys.insert(k.id.as_str()) {
                    return Err(invalid(
                        format!("accounts[{i}].access_keys[{j}].id"),
                        format!("duplicate key id {:?}", k.id),
                    ));
                }
            }
        }
        let mut vpcs = BTreeMap::new();
        let mut vpc_ifs = BTreeSet::new();
        // A VPC's index (its position + 1) scopes the dataplane's flow keys, which hold 24 bits.
        if self.vpcs.len() > eplink_dataplane::abi::MAX_SCOPE as usize {
            return Err(invalid("vpcs", format!("at most {} VPCs per gateway", eplink_dataplane::abi::MAX_SCOPE)));
        }
        for (i, v) in self.vpcs.iter().enumerate() {
            check_id(&format!("vpcs[{i}].id"), &v.id, "vpc-")?;
            if !uids.contains(&v.owner) {
                return Err(invalid(
                    format!("vpcs[{i}].owner"),
                    format!("unknown account {}", v.owner),
                ));
            }
            check_ifname(
                &format!("vpcs[{i}].gateway_interface"),
                &v.gateway_interface,
            )?;
            if self
                .zones
                .iter()
                .any(|z| z.gateway_interface == v.gateway_interface)
                || !vpc_ifs.insert(v.gateway_interface.as_str())
            {
                return Err(invalid(
                    format!("vpcs[{i}].gateway_interface"),
                    format!("interface {:?} is already used", v.gateway_interface),
                ));
            }
            if vpcs.insert(v.id.as_str(), v).is_some() {
                return Err(invalid(
                    format!("vpcs[{i}].id"),
                    format!("duplicate VPC {:?}", v.id),
                ));
            }
        }
        let mut vsw_ids = BTreeSet::new();
        for (i, s) in self.vswitches.iter().enumerate() {
            check_id(&format!("vswitches[{i}].id"), &s.id, "vsw-")?;
            if !vsw_ids.insert(s.id.as_str()) {
                return Err(invalid(
                    format!("vswitches[{i}].id"),
                    format!("duplicate vSwitch {:?}", s.id),
                ));
            }
            if !vpcs.contains_key(s.vpc.as_str()) {
                return Err(invalid(
                    format!("vswitches[{i}].vpc"),
                    format!("unknown VPC {:?}", s.vpc),
                ));
            }
            if !zones.contains(s.zone.as_str()) {
                return Err(invalid(
                    format!("vswitches[{i}].zone"),
                    format!("unknown zone {:?}", s.zone),
                ));
            }
            if s.cidr.prefix() > 29 {
                return Err(invalid(
                    format!("vswitches[{i}].cidr"),
                    format!("{} is too small: the prefix must be /29 or shorter", s.cidr),
                ));
            }
            if s.cidr.network() != s.cidr.ip() {
                return Err(invalid(
                    format!("vswitches[{i}].cidr"),
                    format!("{} has host bits set", s.cidr),
                ));
            }
            if let Some(v6) = s.ipv6_cidr
                && (v6.prefix() != 64 || v6.network() != v6.ip())
            {
                return Err(invalid(
                    format!("vswitches[{i}].ipv6_cidr"),
                    format!("{v6} must be a /64 block"),
                ));
            }
            for (j, o) in self.vswitches[..i].iter().enumerate() {
                if o.vpc == s.vpc
                    && (o.cidr.contains(s.cidr.network()) || s.cidr.contains(o.cidr.network()))
                {
                    return Err(invalid(
                        format!("vswitches[{i}].cidr"),
                        format!(
                            "{} overlaps vswitches[{j}] ({}) in the same VPC",
                            s.cidr, o.cidr
                        ),
                    ));
                }
            }
        }
        let mut sg_ids = BTreeSet::new();
        for (i, g) in self.security_groups.iter().enumerate() {
            check_id(&format!("security_groups[{i}].id"), &g.id, "sg-")?;
            if !sg_ids.insert(g.id.as_str()) {
                return Err(invalid(
                    format!("security_groups[{i}].id"),
                    format!("duplicate security group {:?}", g.id),
                ));
            }
            match vpcs.get(g.vpc.as_str()) {
                None => {
                    return Err(invalid(
                        format!("security_groups[{i}].vpc"),
                        format!("unknown VPC {:?}", g.vpc),
                    ));
                }
                Some(v) if v.owner != g.owner => {
                    return Err(invalid(
                        format!("security_groups[{i}].owner"),
                        format!("VPC {} belongs to {}", v.id, v.owner),
                    ));
                }
                Some(_) => {}
            }
            for (j, r) in g.rules.iter().enumerate() {
                if !(1..=100).contains(&r.priority) {
                    return Err(invalid(
                        format!("security_groups[{i}].rules[{j}].priority"),
                        "must be 1..=100",
                    ));
                }
                if r.ports[0] == 0 || r.ports[0] > r.ports[1] {
                    return Err(invalid(
                        format!("security_groups[{i}].rules[{j}].ports"),
                        "must be [from, to] with 1 <= from <= to",
                    ));
                }
            }
        }
        let mut lb_ids = BTreeSet::new();
        for (i, lb) in self.load_balancers.iter().enumerate() {
            check_id(
                &format!("load_balancers[{i}].id"),
                &lb.id,
                lb.lb_type.id_prefix(),
            )?;
            if !lb_ids.insert(lb.id.as_str()) {
                return Err(invalid(
                    format!("load_balancers[{i}].id"),
                    format!("duplicate load balancer {:?}", lb.id),
                ));
            }
            if !uids.contains(&lb.owner) {
                return Err(invalid(
                    format!("load_balancers[{i}].owner"),
                    format!("unknown account {}", lb.owner),
                ));
            }
            if lb.lb_type == LbType::Clb && lb.dual_stack {
                return Err(invalid(
                    format!("load_balancers[{i}].dual_stack"),
                    "a CLB never supports dual stack",
                ));
            }
            if lb.bandwidth_mbps == 0 {
                return Err(invalid(
                    format!("load_balancers[{i}].bandwidth_mbps"),
                    "must be positive",
                ));
            }
            if lb.health_check_port == 0 {
                return Err(invalid(
                    format!("load_balancers[{i}].health_check_port"),
                    "must be 1..=65535",
                ));
            }
            if lb.zones.is_empty() {
                return Err(invalid(
                    format!("load_balancers[{i}].zones"),
                    "at least one zone is required",
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, z) in lb.zones.iter().enumerate() {
                if !zones.contains(z.zone.as_str()) {
                    return Err(invalid(
                        format!("load_balancers[{i}].zones[{j}].zone"),
                        format!("unknown zone {:?}", z.zone),
                    ));
                }
                if !seen.insert(z.zone.as_str()) {
                    return Err(invalid(
                        format!("load_balancers[{i}].zones[{j}].zone"),
                        format!("duplicate zone {:?}", z.zone),
                    ));
                }
                if z.vip6.is_some() && !lb.dual_stack {
                    return Err(invalid(
                        format!("load_balancers[{i}].zones[{j}].vip6"),
                        "only dual-stack load balancers have an IPv6 VIP",
                    ));
                }
                if z.vip6.is_none() && lb.dual_stack {
                    return Err(invalid(
                        format!("load_balancers[{i}].zones[{j}].vip6"),
                        "a dual-stack load balancer needs an IPv6 VIP in each zone",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The account that holds AccessKey `id`, with the key's secret.
    #[must_use]
    pub fn access_key(&self, id: &str) -> Option<(i64, &str)> {
        self.accounts.iter().find_map(|a| {
            a.access_keys
                .iter()
                .find(|k| k.id == id)
                .map(|k| (a.uid, k.secret.as_str()))
        })
    }

    /// A zone by id.
    #[must_use]
    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }
    /// A VPC by id.
    #[must_use]
    pub fn vpc(&self, id: &str) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.id == id)
    }
    /// A vSwitch by id.
    #[must_use]
    pub fn vswitch(&self, id: &str) -> Option<&VSwitch> {
        self.vswitches.iter().find(|v| v.id == id)
    }
    /// A security group by id.
    #[must_use]
    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|v| v.id == id)
    }
    /// A load balancer by id.
    #[must_use]
    pub fn load_balancer(&self, id: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|v| v.id == id)
    }
}

impl LoadBalancer {
    /// This LB's presence in `zone`, if any.
    #[must_use]
    pub fn in_zone(&self, zone: &str) -> Option<&LbZone> {
        self.zones.iter().find(|z| z.zone == zone)
    }
    /// Its IPv4 VIP in `zone`.
    #[must_use]
    pub fn vip(&self, zone: &str) -> Option<IpAddr> {
        self.in_zone(zone).map(|z| IpAddr::V4(z.vip))
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_id(field: &str, id: &str, prefix: &str) -> Result<(), InventoryError> {
    let ok = id.len() > prefix.len()
        && id.starts_with(prefix)
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{id:?} must start with {prefix:?} followed by letters or digits"),
        ))
    }
}

fn check_ifname(field: &str, name: &str) -> Result<(), InventoryError> {
    // Linux IFNAMSIZ is 16 including the NUL.
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{name:?} is not a valid interface name (1-15 of [A-Za-z0-9._-])"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/inventory.toml");

    fn err_field(text: &str) -> String {
        match Inventory::parse(text) {
            Err(InventoryError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn example_inventory_is_valid() {
        let inv = Inventory::parse(EXAMPLE).expect("example parses");
        assert_eq!(inv.zones.len(), 2);
        assert!(inv.access_key("LTAIconsumer1key").is_some());
    }

    #[test]
    fn example_has_overlapping_consumer_cidrs() {
        let inv = Inventory::parse(EXAMPLE).unwrap();
        let a = inv.vswitch("vsw-c1a").unwrap();
        let b = inv.vswitch("vsw-c2a").unwrap();
        assert_eq!(a.cidr, b.cidr);
        assert_ne!(
            inv.vpc(&a.vpc).unwrap().owner,
            inv.vpc(&b.vpc).unwrap().owner
        );
    }

    #[test]
    fn bad_vswitch_cidr_names_the_field() {
        let text = EXAMPLE.replacen("cidr = \"192.168.1.0/24\"", "cidr = \"192.168.1.1/24\"", 1);
        assert_eq!(err_field(&text), "vswitches[0].cidr");
    }

    #[test]
    fn unknown_vpc_names_the_field() {
        let text = EXAMPLE.replacen("vpc = \"vpc-consumer1\"", "vpc = \"vpc-nope\"", 1);
        assert_eq!(err_field(&text), "vswitches[0].vpc");
    }

    #[test]
    fn r4_clb_cannot_be_dual_stack_in_inventory() {
        let text = EXAMPLE.replacen("type = \"clb\"", "type = \"clb\"\ndual_stack = true", 1);
        assert!(err_field(&text).ends_with(".dual_stack"));
    }

    #[test]
    fn unknown_key_is_a_parse_error() {
        let text = format!("bogus = 1\n{EXAMPLE}");
        assert!(matches!(
            Inventory::parse(&text),
            Err(InventoryError::Parse { .. })
        ));
    }

    #[test]
    fn r24_health_probe_settings_are_checked() {
        let inv = Inventory::parse(EXAMPLE).unwrap();
        assert!(inv.health.enabled, "probes are on unless turned off");
        assert_eq!(err_field(&format!("{EXAMPLE}\n[health]\ntimeout_ms = 2000\n")), "health.timeout_ms");
        assert_eq!(err_field(&format!("{EXAMPLE}\n[health]\ninterval_ms = 50\n")), "health.interval_ms");
        assert_eq!(err_field(&format!("{EXAMPLE}\n[health]\nfall = 0\n")), "health.fall");
        let off = Inventory::parse(&format!("{EXAMPLE}\n[health]\nenabled = false\n")).unwrap();
        assert!(!off.health.enabled);
    }

    #[test]
    fn duplicate_access_key_names_the_field() {
        let text = EXAMPLE.replacen("LTAIconsumer2key", "LTAIconsumer1key", 1);
        assert!(err_field(&text).starts_with("accounts["));
    }
}
