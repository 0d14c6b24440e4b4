//! The dataplane's view of the connection table: one row per ENI (including the draining ENI
//! of a smooth migration), with everything the reconciler writes into the BPF maps.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::{ConnectionStatus, Table, ZoneStatus};
use crate::inventory::{Inventory, LbType};

/// What the dataplane needs for one ENI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataplaneZone {
    /// `eni-…`.
    pub eni_id: String,
    /// Stable small index for BPF map indexing (persisted, never reused).
    pub eni_index: u32,
    /// The endpoint.
    pub endpoint_id: String,
    /// The endpoint's service.
    pub service_id: String,
    /// The consumer VPC.
    pub vpc_id: String,
    /// The gateway interface leading into that VPC.
    pub vpc_interface: String,
    /// Zone.
    pub zone: String,
    /// The zone's provider-facing gateway interface.
    pub provider_interface: String,
    /// ENI IPv4 address.
    pub eni_ip: Ipv4Addr,
    /// ENI IPv6 address.
    pub eni_ip6: Option<Ipv6Addr>,
    /// Zone connection state.
    pub state: ZoneStatus,
    /// Whether traffic to this ENI may be forwarded (connection accepted, zone connected).
    pub forwarding: bool,
    /// True for the old ENI of a smooth migration: existing flows only, not in DNS (R28).
    pub draining: bool,
    /// The allocated resource.
    pub resource_id: Option<String>,
    /// Its IPv4 VIP in this zone.
    pub vip: Option<Ipv4Addr>,
    /// Its IPv6 VIP in this zone (dual-stack LBs).
    pub vip6: Option<Ipv6Addr>,
    /// Health-check port of the resource.
    pub health_check_port: Option<u16>,
    /// Effective bandwidth limit per ENI in Mbps (R30–R32); `None` = unlimited.
    pub bandwidth_mbps: Option<u32>,
    /// SNAT pool of the zone.
    pub snat_pool: Vec<Ipv4Addr>,
    /// Security groups of the endpoint, in order (R13).
    pub security_groups: Vec<String>,
}

impl DataplaneZone {
    /// The VIP of the allocated resource as an `IpAddr`.
    #[must_use]
    pub fn vip_addr(&self) -> Option<IpAddr> {
        self.vip.map(IpAddr::V4)
    }
}

/// Every ENI with its zone connection, ordered by endpoint then zone.
#[must_use]
pub fn dataplane_view(table: &Table, inv: &Inventory) -> Vec<DataplaneZone> {
    let mut out = Vec::new();
    for e in table.endpoints.values() {
        let vpc_interface = inv
            .vpc(&e.vpc_id)
            .map(|v| v.gateway_interface.clone())
            .unwrap_or_default();
        let rtype = table.services.get(&e.service_id).map(|s| s.resource_type);
        // R31: a CLB connection always has a limit (the default captured when it was created).
        let bandwidth = match (e.bandwidth, rtype) {
            (Some(b), _) => Some(b),
            (None, Some(LbType::Clb)) => Some(super::CLB_DEFAULT_BANDWIDTH),
            (None, _) => None,
        };
        let accepted = e.connection == ConnectionStatus::Connected;
        for z in e.zones.values() {
            let zinfo = inv.zone(&z.zone);
            let row = |eni: &super::Eni, resource: Option<&String>, draining: bool| {
                let lb = resource.and_then(|r| inv.load_balancer(r));
                let lbz = lb.and_then(|lb| lb.in_zone(&z.zone));
                DataplaneZone {
                    eni_id: eni.id.clone(),
                    eni_index: eni.index,
                    endpoint_id: e.id.clone(),
                    service_id: e.service_id.clone(),
                    vpc_id: e.vpc_id.clone(),
                    vpc_interface: vpc_interface.clone(),
                    zone: z.zone.clone(),
                    provider_interface: zinfo
                        .map(|zi| zi.gateway_interface.clone())
                        .unwrap_or_default(),
                    eni_ip: eni.ip,
                    eni_ip6: eni.ip6,
                    state: z.status,
                    forwarding: accepted
                        && matches!(z.status, ZoneStatus::Connected | ZoneStatus::Migrating)
                        && resource.is_some(),
                    draining,
                    resource_id: resource.cloned(),
                    vip: lbz.map(|l| l.vip),
                    vip6: lbz.and_then(|l| l.vip6),
                    health_check_port: lb.map(|lb| lb.health_check_port),
                    bandwidth_mbps: bandwidth,
                    snat_pool: zinfo.map(|zi| zi.snat_pool.clone()).unwrap_or_default(),
                    security_groups: e.security_groups.clone(),
                }
            };
            out.push(row(&z.eni, z.resource_id.as_ref(), false));
            if let Some(old) = &z.replaced {
                out.push(row(&old.eni, Some(&old.resource_id), true));
            }
        }
    }
    out
}
