//! The PrivateLink domain model: plain data (the connection table) and pure commands over it.
//!
//! No IO and no async here. Every command validates completely before it mutates, so a refused
//! command (or a `DryRun`) leaves the table untouched. Commands record which objects they
//! touched in [`Table::dirty`], so the store persists only those.

pub mod dns;
mod error;
pub mod ipam;
mod ops;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_support;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

pub use error::ModelError;
pub use ops::*;
pub use view::{DataplaneZone, dataplane_view};

use crate::inventory::{Inventory, LbType};

/// An account UID.
pub type Uid = i64;

/// CLB default per-connection bandwidth (R31), in Mbps.
pub const CLB_DEFAULT_BANDWIDTH: u32 = 3072;

/// Service status (API `ServiceStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceStatus {
    /// Being created.
    Creating,
    /// Usable.
    Active,
    /// Being changed.
    Pending,
    /// Being deleted.
    Deleting,
}

/// Endpoint status (API `EndpointStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointStatus {
    /// Being created.
    Creating,
    /// Usable.
    Active,
    /// Being changed.
    Pending,
    /// Being deleted.
    Deleting,
}

/// Endpoint connection status (API `ConnectionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// Awaiting creation.
    Pending,
    /// Being accepted.
    Connecting,
    /// Accepted: traffic may flow.
    Connected,
    /// Being disconnected.
    Disconnecting,
    /// Not accepted (awaiting the provider, or rejected).
    Disconnected,
    /// Being deleted.
    Deleting,
    /// The service was deleted.
    ServiceDeleted,
}

/// Endpoint zone (zone connection) status (API `ZoneStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZoneStatus {
    /// ENI being created.
    Creating,
    /// The connection is not accepted yet.
    Wait,
    /// Being connected.
    Connecting,
    /// Connected to its allocated resource.
    Connected,
    /// Being disconnected.
    Disconnecting,
    /// Disconnected by the provider.
    Disconnected,
    /// Smooth migration in progress: a new ENI serves the new resource, the old path drains.
    Migrating,
    /// Migration finished.
    Migrated,
    /// Being deleted.
    Deleting,
}

macro_rules! api_names {
    ($($t:ty),*) => {$(
        impl $t {
            /// The API's spelling of this value.
            #[must_use]
            pub fn as_str(self) -> String {
                format!("{self:?}")
            }
        }
    )*};
}
api_names!(ServiceStatus, EndpointStatus, ConnectionStatus, ZoneStatus);

/// IP version of a service or endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpVersion {
    /// IPv4 only.
    IPv4,
    /// IPv4 and IPv6.
    DualStack,
}

impl IpVersion {
    /// Parses the API value.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s {
            "IPv4" | "ipv4" => Ok(Self::IPv4),
            "DualStack" | "dualstack" => Ok(Self::DualStack),
            _ => Err(ModelError::IllegalParam(
                "AddressIpVersion",
                format!("{s:?} is not IPv4 or DualStack"),
            )),
        }
    }
    /// The API value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IPv4 => "IPv4",
            Self::DualStack => "DualStack",
        }
    }
}

/// Who pays for the connection (R3, R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payer {
    /// The consumer pays (default).
    Endpoint,
    /// The provider pays.
    EndpointService,
}

impl Payer {
    /// Parses the API value.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s {
            "Endpoint" => Ok(Self::Endpoint),
            "EndpointService" => Ok(Self::EndpointService),
            _ => Err(ModelError::IllegalParam(
                "Payer",
                format!("{s:?} is not Endpoint or EndpointService"),
            )),
        }
    }
    /// The API value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Endpoint => "Endpoint",
            Self::EndpointService => "EndpointService",
        }
    }
}

/// A whitelist entry (R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Principal {
    /// Every account (`*`).
    All,
    /// One account.
    Account(Uid),
}

impl Principal {
    /// The API spelling (`*` or the UID).
    #[must_use]
    pub fn as_string(self) -> String {
        match self {
            Self::All => "*".into(),
            Self::Account(u) => u.to_string(),
        }
    }
}

/// A service resource: one load balancer attached in one zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The LB id.
    pub id: String,
    /// The zone it serves in this service.
    pub zone: String,
    /// May automatic allocation pick it (R22)?
    pub auto_allocated: bool,
    /// Last health verdict (R24); unhealthy resources are not allocated.
    pub healthy: bool,
}

/// An endpoint service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// `epsrv-…`.
    pub id: String,
    /// Creation sequence number (list order).
    pub seq: u64,
    /// `<prefix>.<region>.epsrv-…`.
    pub name: String,
    /// Provider account.
    pub owner: Uid,
    /// Free text.
    pub description: String,
    /// All resources share this type (R2).
    pub resource_type: LbType,
    /// Auto-accept new connections (R16).
    pub auto_accept: bool,
    /// Zone affinity (R20).
    pub zone_affinity: bool,
    /// IPv4 or DualStack (R4).
    pub ip_version: IpVersion,
    /// Who pays (R5: fixed at creation).
    pub payer: Payer,
    /// Status.
    pub status: ServiceStatus,
    /// Default per-connection bandwidth for new connections (CLB only, R31).
    pub connect_bandwidth: Option<u32>,
    /// Resources keyed by (zone, resource id).
    #[serde(with = "resource_map")]
    pub resources: BTreeMap<(String, String), Resource>,
    /// Whitelist.
    pub users: BTreeSet<Principal>,
    /// Creation time, ISO 8601.
    pub create_time: String,
}

impl Service {
    /// Whether `uid` may see and connect to this service (R8). The owner always may.
    #[must_use]
    pub fn visible_to(&self, uid: Uid) -> bool {
        uid == self.owner
            || self.users.contains(&Principal::All)
            || self.users.contains(&Principal::Account(uid))
    }
    /// Zones in which the service has resources.
    #[must_use]
    pub fn zones(&self) -> BTreeSet<String> {
        self.resources.keys().map(|(z, _)| z.clone()).collect()
    }
    /// Bandwidth range for per-connection limits (R32), in Mbps.
    #[must_use]
    pub fn bandwidth_range(&self) -> (u32, u32) {
        bandwidth_range(self.resource_type)
    }
}

/// Bandwidth range for per-connection limits of a resource type (R31, R32), in Mbps.
#[must_use]
pub fn bandwidth_range(t: LbType) -> (u32, u32) {
    match t {
        LbType::Clb => (100, 10240),
        LbType::Nlb | LbType::Alb => (100, 25600),
    }
}

/// How a zone connection chooses its resource (R25).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Allocation {
    /// Least loaded auto-allocatable resource of the zone.
    Auto,
    /// This resource.
    Manual(String),
}

/// An ENI: one address of an endpoint in one zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eni {
    /// `eni-…`.
    pub id: String,
    /// Small stable integer for BPF map indexing.
    pub index: u32,
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// IPv6 address (DualStack endpoints).
    pub ip6: Option<Ipv6Addr>,
}

/// The previous path of a zone during smooth migration (R28).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacedPath {
    /// The old ENI, still carrying existing flows, no longer in DNS.
    pub eni: Eni,
    /// The old resource.
    pub resource_id: String,
}

/// An endpoint zone together with its zone connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointZone {
    /// Zone id.
    pub zone: String,
    /// The consumer's vSwitch in that zone.
    pub vswitch_id: String,
    /// The zone's ENI.
    pub eni: Eni,
    /// Zone connection status.
    pub status: ZoneStatus,
    /// Allocation mode.
    pub allocation: Allocation,
    /// The resource carrying this zone's traffic, when connected.
    pub resource_id: Option<String>,
    /// During smooth migration: the old path.
    pub replaced: Option<ReplacedPath>,
}

/// An interface endpoint with its connection to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep-…`.
    pub id: String,
    /// Creation sequence number (list order).
    pub seq: u64,
    /// Consumer account.
    pub owner: Uid,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The consumer VPC.
    pub vpc_id: String,
    /// The service.
    pub service_id: String,
    /// The service's name (kept after the service is deleted).
    pub service_name: String,
    /// Status.
    pub status: EndpointStatus,
    /// IPv4 or DualStack (R12).
    pub ip_version: IpVersion,
    /// Zone affinity (R14).
    pub zone_affinity: bool,
    /// Security groups (R13), in attach order.
    pub security_groups: Vec<String>,
    /// Zones by id.
    pub zones: BTreeMap<String, EndpointZone>,
    /// Connection status.
    pub connection: ConnectionStatus,
    /// Per-connection bandwidth limit in Mbps (R30–R32); CLB connections start at the default.
    pub bandwidth: Option<u32>,
    /// Creation time, ISO 8601.
    pub create_time: String,
    /// Last change of the connection, ISO 8601.
    pub modified_time: String,
}

/// Which stored object a command touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dirty {
    /// A service row.
    Service(String),
    /// An endpoint row.
    Endpoint(String),
    /// The counters row.
    Meta,
}

/// Counters that must survive restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Next ENI index to hand out (indexes are never reused while the daemon lives on).
    pub next_eni_index: u32,
    /// Next creation sequence number.
    pub next_seq: u64,
}

/// JSON has only string map keys: resources are stored as a list and re-keyed on load.
mod resource_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Resource;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<(String, String), Resource>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(String, String), Resource>, D::Error> {
        let v: Vec<Resource> = Vec::deserialize(d)?;
        Ok(v.into_iter()
            .map(|r| ((r.zone.clone(), r.id.clone()), r))
            .collect())
    }
}

/// The connection table: every service and endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Services by id.
    pub services: BTreeMap<String, Service>,
    /// Endpoints by id.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Counters.
    pub meta: Meta,
    /// Objects touched since the last [`Table::take_dirty`].
    pub dirty: BTreeSet<Dirty>,
    /// Derived lookups (addresses per vSwitch, load per resource), kept in step by
    /// [`Table::reindex_endpoint`]; never stored.
    index: Index,
}

/// Resource key: (service, zone, resource).
type ResKey = (String, String, String);

/// Derived lookups over the endpoints, so that creating the n-th endpoint costs no O(n) scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Index {
    v4: HashMap<String, BTreeSet<Ipv4Addr>>,
    v6: HashMap<String, BTreeSet<Ipv6Addr>>,
    /// (current, replaced) zone connections per resource.
    load: HashMap<ResKey, (u32, u32)>,
    per_endpoint: HashMap<String, Contribution>,
}

/// What one endpoint adds to the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Contribution {
    v4: Vec<(String, Ipv4Addr)>,
    v6: Vec<(String, Ipv6Addr)>,
    load: Vec<(ResKey, bool)>,
}

/// Source of fresh ids (random in the daemon, deterministic in tests).
pub trait IdSource {
    /// A fresh id: `prefix` followed by 20 lowercase alphanumerics.
    fn fresh(&mut self, prefix: &str) -> String;
}

/// Per-call context: who calls, when, and whether it is a dry run.
pub struct Ctx<'a> {
    /// The calling account.
    pub caller: Uid,
    /// Current time, ISO 8601 (`2026-12-04T15:27:22Z`).
    pub now: String,
    /// Validate only.
    pub dry_run: bool,
    /// The inventory.
    pub inv: &'a Inventory,
    /// Id source.
    pub ids: &'a mut dyn IdSource,
}

impl Table {
    /// Drains the set of touched objects.
    pub fn take_dirty(&mut self) -> BTreeSet<Dirty> {
        std::mem::take(&mut self.dirty)
    }

    /// A service visible to `uid` as its provider, else `EndpointServiceNotFound`/`Forbidden`.
    pub fn owned_service(&self, uid: Uid, id: &str) -> Result<&Service, ModelError> {
        let s = self
            .services
            .get(id)
            .ok_or_else(|| ModelError::EndpointServiceNotFound(id.to_owned()))?;
        if s.owner != uid {
            // Whitelisted consumers see it exist but may not change it; others must not learn it exists.
            if s.visible_to(uid) {
                return Err(ModelError::Forbidden(format!(
                    "The endpoint service {id} belongs to another account."
                )));
            }
            return Err(ModelError::EndpointServiceNotFound(id.to_owned()));
        }
        Ok(s)
    }

    /// An endpoint owned by `uid`, else `EndpointNotFound`/`Forbidden`.
    pub fn owned_endpoint(&self, uid: Uid, id: &str) -> Result<&Endpoint, ModelError> {
        let e = self
            .endpoints
            .get(id)
            .ok_or_else(|| ModelError::EndpointNotFound(id.to_owned()))?;
        if e.owner != uid {
            return Err(ModelError::Forbidden(format!(
                "The endpoint {id} belongs to another account."
            )));
        }
        Ok(e)
    }

    /// Number of zone connections (current, replaced paths) using each resource that has any,
    /// in `zone` of `service`.
    #[must_use]
    pub fn resource_load(&self, service: &str, zone: &str) -> BTreeMap<String, (u32, u32)> {
        let Some(s) = self.services.get(service) else {
            return BTreeMap::new();
        };
        s.resources
            .values()
            .filter(|r| r.zone == zone)
            .filter_map(|r| {
                let k = (service.to_owned(), zone.to_owned(), r.id.clone());
                self.index
                    .load
                    .get(&k)
                    .filter(|l| l.0 + l.1 > 0)
                    .map(|l| (r.id.clone(), *l))
            })
            .collect()
    }

    /// IPv4 ENI addresses in use in `vswitch` (current and replaced ENIs).
    #[must_use]
    pub fn used_v4(&self, vswitch: &str) -> &BTreeSet<Ipv4Addr> {
        static EMPTY: BTreeSet<Ipv4Addr> = BTreeSet::new();
        self.index.v4.get(vswitch).unwrap_or(&EMPTY)
    }

    /// IPv6 ENI addresses in use in `vswitch`.
    #[must_use]
    pub fn used_v6(&self, vswitch: &str) -> &BTreeSet<Ipv6Addr> {
        static EMPTY: BTreeSet<Ipv6Addr> = BTreeSet::new();
        self.index.v6.get(vswitch).unwrap_or(&EMPTY)
    }

    /// Brings the index in step with endpoint `id` (after any change to it, or its removal).
    pub fn reindex_endpoint(&mut self, id: &str) {
        if let Some(old) = self.index.per_endpoint.remove(id) {
            for (vsw, ip) in old.v4 {
                if let Some(set) = self.index.v4.get_mut(&vsw) {
                    set.remove(&ip);
                }
            }
            for (vsw, ip) in old.v6 {
                if let Some(set) = self.index.v6.get_mut(&vsw) {
                    set.remove(&ip);
                }
            }
            for (k, replaced) in old.load {
                if let Some(l) = self.index.load.get_mut(&k) {
                    if replaced {
                        l.1 -= 1;
                    } else {
                        l.0 -= 1;
                    }
                    if *l == (0, 0) {
                        self.index.load.remove(&k);
                    }
                }
            }
            self.index.v4.retain(|_, s| !s.is_empty());
            self.index.v6.retain(|_, s| !s.is_empty());
        }
        let Some(e) = self.endpoints.get(id) else {
            return;
        };
        let mut c = Contribution::default();
        for z in e.zones.values() {
            for eni in std::iter::once(&z.eni).chain(z.replaced.as_ref().map(|r| &r.eni)) {
                c.v4.push((z.vswitch_id.clone(), eni.ip));
                if let Some(a) = eni.ip6 {
                    c.v6.push((z.vswitch_id.clone(), a));
                }
            }
            if let Some(r) = &z.resource_id {
                c.load
                    .push(((e.service_id.clone(), z.zone.clone(), r.clone()), false));
            }
            if let Some(old) = &z.replaced {
                c.load.push((
                    (
                        e.service_id.clone(),
                        z.zone.clone(),
                        old.resource_id.clone(),
                    ),
                    true,
                ));
            }
        }
        for (vsw, ip) in &c.v4 {
            self.index.v4.entry(vsw.clone()).or_default().insert(*ip);
        }
        for (vsw, ip) in &c.v6 {
            self.index.v6.entry(vsw.clone()).or_default().insert(*ip);
        }
        for (k, replaced) in &c.load {
            let l = self.index.load.entry(k.clone()).or_default();
            if *replaced { l.1 += 1 } else { l.0 += 1 }
        }
        self.index.per_endpoint.insert(id.to_owned(), c);
    }

    /// Rebuilds the index from scratch (after loading from the store).
    pub fn rebuild_index(&mut self) {
        self.index = Index::default();
        let ids: Vec<String> = self.endpoints.keys().cloned().collect();
        for id in ids {
            self.reindex_endpoint(&id);
        }
    }

    /// Endpoint domain name (R18).
    #[must_use]
    pub fn endpoint_domain(inv: &Inventory, ep: &Endpoint) -> String {
        format!(
            "{}.{}.{}.privatelink.{}",
            ep.id, ep.service_id, inv.region, inv.domain_suffix
        )
    }

    /// Zone domain name (R18).
    #[must_use]
    pub fn zone_domain(inv: &Inventory, ep: &Endpoint, zone: &str) -> String {
        format!(
            "{}-{}.{}.{}.privatelink.{}",
            ep.id, zone, ep.service_id, inv.region, inv.domain_suffix
        )
    }

    /// Service domain name.
    #[must_use]
    pub fn service_domain(inv: &Inventory, s: &Service) -> String {
        format!("{}.{}.privatelink.{}", s.id, inv.region, inv.domain_suffix)
    }
}
