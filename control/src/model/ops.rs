//! Commands over the connection table: validate everything, then (unless dry run) mutate.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    Allocation, CLB_DEFAULT_BANDWIDTH, ConnectionStatus, Ctx, Dirty, Endpoint, EndpointStatus,
    EndpointZone, Eni, IpVersion, ModelError, Payer, Principal, ReplacedPath, Resource, Service,
    ServiceStatus, Table, Uid, ZoneStatus, ipam,
};
use crate::inventory::{Inventory, LbType};

/// A resource named in CreateVpcEndpointService or AttachResourceToVpcEndpointService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    /// LB id.
    pub id: String,
    /// `nlb`/`alb`/`slb`, if given.
    pub resource_type: Option<LbType>,
    /// Zone.
    pub zone: String,
}

/// CreateVpcEndpointService parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateService {
    /// Resource type (defaults to the first resource's type).
    pub resource_type: Option<LbType>,
    /// Initial resources.
    pub resources: Vec<ResourceSpec>,
    /// Auto-accept.
    pub auto_accept: bool,
    /// Zone affinity.
    pub zone_affinity: bool,
    /// IP version.
    pub ip_version: IpVersion,
    /// Payer.
    pub payer: Payer,
    /// Description.
    pub description: String,
}

/// UpdateVpcEndpointServiceAttribute parameters (absent = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateService {
    /// Auto-accept (R6: never changes existing connections).
    pub auto_accept: Option<bool>,
    /// Zone affinity.
    pub zone_affinity: Option<bool>,
    /// Description.
    pub description: Option<String>,
    /// CLB default bandwidth for new connections (R31).
    pub connect_bandwidth: Option<u32>,
    /// IP version.
    pub ip_version: Option<IpVersion>,
    /// Payer (R5: refused if it differs).
    pub payer: Option<Payer>,
}

/// One zone of CreateVpcEndpoint / AddZoneToVpcEndpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    /// Zone id.
    pub zone: String,
    /// The consumer's vSwitch in that zone.
    pub vswitch_id: String,
    /// Requested IPv4 address.
    pub ip: Option<Ipv4Addr>,
    /// Requested IPv6 address.
    pub ip6: Option<Ipv6Addr>,
}

/// CreateVpcEndpoint parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEndpoint {
    /// Service id.
    pub service_id: Option<String>,
    /// Service name (verified against the id when both are given).
    pub service_name: Option<String>,
    /// VPC.
    pub vpc_id: String,
    /// Zones.
    pub zones: Vec<ZoneSpec>,
    /// Security groups.
    pub security_groups: Vec<String>,
    /// IP version.
    pub ip_version: IpVersion,
    /// Zone affinity.
    pub zone_affinity: bool,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// UpdateVpcEndpointAttribute parameters (absent = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateEndpoint {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Zone affinity (R14).
    pub zone_affinity: Option<bool>,
    /// IP version (R12).
    pub ip_version: Option<IpVersion>,
}

/// How a connected zone moves to another resource (R27–R29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceMode {
    /// Smooth migration: new ENI, old path drains (R28).
    Graceful,
    /// Forced migration: flows on the old resource are cut (R29).
    Force,
}

impl Table {
    fn touch_service(&mut self, id: &str) {
        self.dirty.insert(Dirty::Service(id.to_owned()));
    }
    fn touch_endpoint(&mut self, id: &str) {
        self.dirty.insert(Dirty::Endpoint(id.to_owned()));
        self.reindex_endpoint(id);
    }
    fn next_seq(&mut self) -> u64 {
        self.meta.next_seq += 1;
        self.dirty.insert(Dirty::Meta);
        self.meta.next_seq
    }
    fn next_eni(&mut self, ctx: &mut Ctx<'_>, ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Eni {
        let index = self.meta.next_eni_index;
        self.meta.next_eni_index += 1;
        self.dirty.insert(Dirty::Meta);
        Eni {
            id: ctx.ids.fresh("eni-"),
            index,
            ip,
            ip6,
        }
    }

    // ---------------------------------------------------------------- services

    /// CreateVpcEndpointService (R2–R4, R7). Returns the new service id.
    pub fn create_service(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: CreateService,
    ) -> Result<String, ModelError> {
        let rtype = match (p.resource_type, p.resources.first()) {
            (Some(t), _) => t,
            (None, Some(r)) => match r.resource_type {
                Some(t) => t,
                None => lb_of(ctx.inv, ctx.caller, &r.id)?.lb_type,
            },
            (None, None) => return Err(ModelError::MissingParam("ServiceResourceType")),
        };
        let mut resources = std::collections::BTreeMap::new();
        for r in &p.resources {
            check_resource(ctx.inv, ctx.caller, rtype, p.ip_version, r)?;
            let key = (r.zone.clone(), r.id.clone());
            if resources.contains_key(&key)
                || self
                    .services
                    .values()
                    .any(|o| o.resources.contains_key(&key))
            {
                return Err(ModelError::EndpointServiceResourceExist(
                    r.id.clone(),
                    r.zone.clone(),
                ));
            }
            resources.insert(
                key,
                Resource {
                    id: r.id.clone(),
                    zone: r.zone.clone(),
                    auto_allocated: true,
                    healthy: true,
                },
            );
        }
        if p.ip_version == IpVersion::DualStack && rtype == LbType::Clb {
            return Err(ModelError::IllegalParam(
                "AddressIpVersion",
                "a CLB service never supports DualStack (R4)".into(),
            ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let id = ctx.ids.fresh("epsrv-");
        let seq = self.next_seq();
        let svc = Service {
            seq,
            name: format!("{}.{}.{}", ctx.inv.service_name_prefix, ctx.inv.region, id),
            id: id.clone(),
            owner: ctx.caller,
            description: p.description,
            resource_type: rtype,
            auto_accept: p.auto_accept,
            zone_affinity: p.zone_affinity,
            ip_version: p.ip_version,
            payer: p.payer,
            status: ServiceStatus::Active,
            connect_bandwidth: (rtype == LbType::Clb).then_some(CLB_DEFAULT_BANDWIDTH),
            resources,
            users: [Principal::Account(ctx.caller)].into(),
            create_time: ctx.now.clone(),
        };
        self.services.insert(id.clone(), svc);
        self.touch_service(&id);
        Ok(id)
    }

    /// UpdateVpcEndpointServiceAttribute (R4–R6, R31).
    pub fn update_service(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        p: UpdateService,
    ) -> Result<(), ModelError> {
        let s = self.owned_service(ctx.caller, id)?;
        if let Some(payer) = p.payer
            && payer != s.payer
        {
            return Err(ModelError::IllegalParam(
                "Payer",
                "the payer of a service cannot be changed after creation (R5)".into(),
            ));
        }
        if let Some(bw) = p.connect_bandwidth {
            if s.resource_type != LbType::Clb {
                return Err(ModelError::IllegalParam(
                    "ConnectBandwidth",
                    "a default bandwidth exists only for CLB services (R31)".into(),
                ));
            }
            if !(100..=10240).contains(&bw) {
                return Err(ModelError::IllegalParam(
                    "ConnectBandwidth",
                    format!("{bw} Mbps is outside 100-10240 Mbps (R31)"),
                ));
            }
        }
        if p.ip_version == Some(IpVersion::DualStack) {
            check_dual_stack(
                ctx.inv,
                s.resource_type,
                s.resources.values().map(|r| r.id.as_str()),
            )?;
        }
        if p.ip_version == Some(IpVersion::IPv4) && s.ip_version == IpVersion::DualStack {
            let dual = self
                .endpoints
                .values()
                .any(|e| e.service_id == id && e.ip_version == IpVersion::DualStack);
            if dual {
                return Err(ModelError::EndpointServiceConnectionDependence(
                    "DualStack endpoints are connected to this service; the service must stay DualStack".into(),
                ));
            }
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let s = self.services.get_mut(id).expect("checked above");
        if let Some(v) = p.auto_accept {
            s.auto_accept = v;
        }
        if let Some(v) = p.zone_affinity {
            s.zone_affinity = v;
        }
        if let Some(v) = p.description {
            s.description = v;
        }
        if let Some(v) = p.connect_bandwidth {
            s.connect_bandwidth = Some(v);
        }
        if let Some(v) = p.ip_version {
            s.ip_version = v;
        }
        self.touch_service(id);
        Ok(())
    }

    /// DeleteVpcEndpointService (R33): refused while connected or with resources attached.
    pub fn delete_service(&mut self, ctx: &Ctx<'_>, id: &str) -> Result<(), ModelError> {
        let s = self.owned_service(ctx.caller, id)?;
        let connected = self.endpoints.values().any(|e| {
            e.service_id == id
                && (e.connection == ConnectionStatus::Connected
                    || e.zones.values().any(|z| z.resource_id.is_some()))
        });
        if connected {
            return Err(ModelError::EndpointServiceConnectionDependence(format!(
                "The endpoint service {id} still has connected endpoints: reject or disconnect them first (R33)."
            )));
        }
        if !s.resources.is_empty() {
            return Err(ModelError::EndpointServiceDependenceViolation(
                id.to_owned(),
            ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.services.remove(id);
        self.touch_service(id);
        let orphans: Vec<String> = self
            .endpoints
            .values()
            .filter(|e| e.service_id == id)
            .map(|e| e.id.clone())
            .collect();
        for eid in orphans {
            let e = self.endpoints.get_mut(&eid).expect("listed above");
            e.connection = ConnectionStatus::ServiceDeleted;
            e.modified_time.clone_from(&ctx.now);
            for z in e.zones.values_mut() {
                z.status = ZoneStatus::Disconnected;
                z.resource_id = None;
                z.replaced = None;
            }
            self.touch_endpoint(&eid);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- whitelist

    /// AddUserToVpcEndpointService (R8).
    pub fn add_user(&mut self, ctx: &Ctx<'_>, id: &str, user: Principal) -> Result<(), ModelError> {
        self.owned_service(ctx.caller, id)?;
        check_principal(ctx.inv, user)?;
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.services
            .get_mut(id)
            .expect("checked")
            .users
            .insert(user);
        self.touch_service(id);
        Ok(())
    }

    /// RemoveUserFromVpcEndpointService (R8). Existing connections are unaffected.
    pub fn remove_user(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        user: Principal,
    ) -> Result<(), ModelError> {
        let s = self.owned_service(ctx.caller, id)?;
        if !s.users.contains(&user) {
            return Err(ModelError::ResourceNotFound("User", user.as_string()));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.services
            .get_mut(id)
            .expect("checked")
            .users
            .remove(&user);
        self.touch_service(id);
        Ok(())
    }

    // ---------------------------------------------------------------- resources

    /// AttachResourceToVpcEndpointService (R2, R4, R21).
    pub fn attach_resource(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        r: ResourceSpec,
    ) -> Result<(), ModelError> {
        let s = self.owned_service(ctx.caller, id)?;
        check_resource(ctx.inv, ctx.caller, s.resource_type, s.ip_version, &r)?;
        if self
            .services
            .values()
            .any(|o| o.resources.contains_key(&(r.zone.clone(), r.id.clone())))
        {
            return Err(ModelError::EndpointServiceResourceExist(r.id, r.zone));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let res = Resource {
            id: r.id.clone(),
            zone: r.zone.clone(),
            auto_allocated: true,
            healthy: true,
        };
        self.services
            .get_mut(id)
            .expect("checked")
            .resources
            .insert((r.zone, r.id), res);
        self.touch_service(id);
        Ok(())
    }

    /// DetachResourceFromVpcEndpointService (R22, R26).
    pub fn detach_resource(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        res: &str,
        zone: &str,
    ) -> Result<(), ModelError> {
        let s = self.owned_service(ctx.caller, id)?;
        let key = (zone.to_owned(), res.to_owned());
        let Some(r) = s.resources.get(&key) else {
            return Err(ModelError::ResourceNotFound(
                "Resource",
                format!("{res} in zone {zone}"),
            ));
        };
        let load = self.resource_load(id, zone);
        if load.contains_key(res) {
            return Err(ModelError::EndpointServiceConnectionDependence(format!(
                "The resource {res} is allocated to endpoint zone connections in {zone}: disconnect them first (R26)."
            )));
        }
        let others: Vec<&Resource> = s
            .resources
            .values()
            .filter(|o| o.zone == zone && o.id != res)
            .collect();
        if r.auto_allocated && !others.is_empty() && !others.iter().any(|o| o.auto_allocated) {
            return Err(ModelError::ResourceAutoAllocateViolation(format!(
                "Zone {zone} must keep at least one auto-allocatable resource (R22)."
            )));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.services
            .get_mut(id)
            .expect("checked")
            .resources
            .remove(&key);
        self.touch_service(id);
        // A manual choice of the detached resource falls back to automatic allocation.
        let affected: Vec<String> = self
            .endpoints
            .values()
            .filter(|e| e.service_id == id)
            .filter(|e| {
                e.zones
                    .get(zone)
                    .is_some_and(|z| z.allocation == Allocation::Manual(res.to_owned()))
            })
            .map(|e| e.id.clone())
            .collect();
        for eid in affected {
            let z = self
                .endpoints
                .get_mut(&eid)
                .and_then(|e| e.zones.get_mut(zone))
                .expect("listed");
            z.allocation = Allocation::Auto;
            self.touch_endpoint(&eid);
        }
        Ok(())
    }

    /// UpdateVpcEndpointServiceResourceAttribute (R22: one auto-allocatable per zone; existing
    /// connections unchanged).
    pub fn update_resource(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        res: &str,
        zone: &str,
        auto: bool,
    ) -> Result<(), ModelError> {
        let s = self.owned_service(ctx.caller, id)?;
        let key = (zone.to_owned(), res.to_owned());
        if !s.resources.contains_key(&key) {
            return Err(ModelError::ResourceNotFound(
                "Resource",
                format!("{res} in zone {zone}"),
            ));
        }
        if !auto
            && !s
                .resources
                .values()
                .any(|o| o.zone == zone && o.id != res && o.auto_allocated)
        {
            return Err(ModelError::ResourceAutoAllocateViolation(format!(
                "Zone {zone} must keep at least one auto-allocatable resource (R22)."
            )));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.services
            .get_mut(id)
            .expect("checked")
            .resources
            .get_mut(&key)
            .expect("checked")
            .auto_allocated = auto;
        self.touch_service(id);
        Ok(())
    }

    /// Health verdict for a resource (R24): zone connections on an unhealthy resource move to
    /// another available resource of the same zone. Not an API call; the prober calls it.
    /// Returns the endpoints whose allocation changed.
    pub fn set_resource_health(
        &mut self,
        inv: &Inventory,
        service: &str,
        zone: &str,
        res: &str,
        healthy: bool,
    ) -> Vec<String> {
        let Some(s) = self.services.get_mut(service) else {
            return Vec::new();
        };
        let Some(r) = s.resources.get_mut(&(zone.to_owned(), res.to_owned())) else {
            return Vec::new();
        };
        if r.healthy != healthy {
            r.healthy = healthy;
            self.touch_service(service);
        }
        if healthy {
            return Vec::new();
        }
        let on_it: Vec<String> = self
            .endpoints
            .values()
            .filter(|e| e.service_id == service)
            .filter(|e| {
                e.zones
                    .get(zone)
                    .is_some_and(|z| z.resource_id.as_deref() == Some(res))
            })
            .map(|e| e.id.clone())
            .collect();
        let mut moved = Vec::new();
        for eid in on_it {
            // Move only to a healthy resource (the pick fails open to unhealthy ones).
            let pick = self.pick_auto(inv, service, zone).ok().filter(|new| {
                self.services[service]
                    .resources
                    .get(&(zone.to_owned(), new.clone()))
                    .is_some_and(|r| r.healthy)
            });
            if let Some(new) = pick {
                let z = self
                    .endpoints
                    .get_mut(&eid)
                    .and_then(|e| e.zones.get_mut(zone))
                    .expect("listed");
                z.resource_id = Some(new);
                self.touch_endpoint(&eid);
                moved.push(eid);
            }
        }
        moved
    }

    // ---------------------------------------------------------------- allocation

    /// Automatic allocation (R23): the healthy auto-allocatable resource of the zone with the
    /// fewest connections relative to its bandwidth capacity (from the inventory).
    pub fn pick_auto(
        &self,
        inv: &Inventory,
        service: &str,
        zone: &str,
    ) -> Result<String, ModelError> {
        self.pick_auto_weighted(service, zone, &self.resource_load(service, zone), |id| {
            inv.load_balancer(id).map_or(1, |lb| lb.bandwidth_mbps)
        })
    }

    /// As [`Table::pick_auto`] with explicit loads (current, replaced) and capacities (Mbps);
    /// ties go to the larger capacity, then the lower id.
    pub fn pick_auto_weighted(
        &self,
        service: &str,
        zone: &str,
        load: &std::collections::BTreeMap<String, (u32, u32)>,
        capacity: impl Fn(&str) -> u32,
    ) -> Result<String, ModelError> {
        let s = self
            .services
            .get(service)
            .ok_or_else(|| ModelError::EndpointServiceNotFound(service.to_owned()))?;
        // Healthy candidates first; if none is healthy, allocate anyway (failing open: the
        // connection works as soon as its resource recovers, instead of being refused).
        let any_healthy = s
            .resources
            .values()
            .any(|r| r.zone == zone && r.auto_allocated && r.healthy);
        s.resources
            .values()
            .filter(|r| r.zone == zone && r.auto_allocated && (r.healthy || !any_healthy))
            .min_by(|a, b| {
                let la = u64::from(load.get(&a.id).map_or(0, |l| l.0 + l.1));
                let lb = u64::from(load.get(&b.id).map_or(0, |l| l.0 + l.1));
                let ca = u64::from(capacity(&a.id).max(1));
                let cb = u64::from(capacity(&b.id).max(1));
                // la/ca < lb/cb  <=>  la*cb < lb*ca
                (la * cb)
                    .cmp(&(lb * ca))
                    .then_with(|| cb.cmp(&ca))
                    .then_with(|| a.id.cmp(&b.id))
            })
            .map(|r| r.id.clone())
            .ok_or_else(|| {
                ModelError::ResourceAutoAllocateViolation(format!(
                    "No available auto-allocatable resource in zone {zone}."
                ))
            })
    }

    /// The resource a zone connection gets when it connects (R21–R25). `extra` counts
    /// allocations decided earlier in the same command.
    fn allocate(
        &self,
        inv: &Inventory,
        service: &str,
        zone: &EndpointZone,
        extra: &[(String, String)],
    ) -> Result<String, ModelError> {
        let s = self
            .services
            .get(service)
            .ok_or_else(|| ModelError::EndpointServiceNotFound(service.to_owned()))?;
        match &zone.allocation {
            Allocation::Manual(r) => {
                if s.resources.contains_key(&(zone.zone.clone(), r.clone())) {
                    Ok(r.clone())
                } else {
                    Err(ModelError::ResourceNotFound(
                        "Resource",
                        format!("{r} in zone {}", zone.zone),
                    ))
                }
            }
            Allocation::Auto => {
                let mut load = self.resource_load(service, &zone.zone);
                for (z, r) in extra {
                    if *z == zone.zone {
                        load.entry(r.clone()).or_default().0 += 1;
                    }
                }
                self.pick_auto_weighted(service, &zone.zone, &load, |id| {
                    inv.load_balancer(id).map_or(1, |lb| lb.bandwidth_mbps)
                })
            }
        }
    }

    /// Allocations for every zone of `ep` that would connect now.
    fn allocate_all(
        &self,
        inv: &Inventory,
        ep: &Endpoint,
    ) -> Result<Vec<(String, String)>, ModelError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for z in ep.zones.values() {
            let r = self.allocate(inv, &ep.service_id, z, &out)?;
            out.push((z.zone.clone(), r));
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- endpoints

    /// CreateVpcEndpoint (R1, R8, R10–R16, R31). Returns the new endpoint id.
    #[expect(clippy::too_many_lines, reason = "one linear list of checks")]
    pub fn create_endpoint(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: CreateEndpoint,
    ) -> Result<String, ModelError> {
        let svc = self.consumer_service(
            ctx.caller,
            p.service_id.as_deref(),
            p.service_name.as_deref(),
        )?;
        let vpc = ctx
            .inv
            .vpc(&p.vpc_id)
            .ok_or_else(|| ModelError::ResourceNotFound("Vpc", p.vpc_id.clone()))?;
        if vpc.owner != ctx.caller {
            return Err(ModelError::Forbidden(format!(
                "The VPC {} belongs to another account.",
                p.vpc_id
            )));
        }
        if p.zones.is_empty() {
            return Err(ModelError::MissingParam("Zone"));
        }
        if p.ip_version == IpVersion::DualStack && svc.ip_version != IpVersion::DualStack {
            return Err(ModelError::IllegalParam(
                "AddressIpVersion",
                "a DualStack endpoint needs a DualStack service (R12)".into(),
            ));
        }
        if p.zone_affinity && !svc.zone_affinity {
            return Err(ModelError::IllegalParam(
                "ZoneAffinityEnabled",
                "zone affinity needs a service with zone affinity (R14)".into(),
            ));
        }
        if p.security_groups.is_empty() {
            return Err(ModelError::MissingParam("SecurityGroupId"));
        }
        for (i, sg) in p.security_groups.iter().enumerate() {
            check_sg(ctx.inv, ctx.caller, &p.vpc_id, sg)?;
            if p.security_groups[..i].contains(sg) {
                return Err(ModelError::IllegalParam(
                    "SecurityGroupId",
                    format!("{sg} is listed twice"),
                ));
            }
        }
        let service_id = svc.id.clone();
        let service_name = svc.name.clone();
        let svc_zones = svc.zones();
        let auto_accept = svc.auto_accept;
        let bandwidth = svc.connect_bandwidth;
        // Addresses: validate every zone before changing anything.
        let mut planned: Vec<(ZoneSpec, Ipv4Addr, Option<Ipv6Addr>)> = Vec::new();
        for (i, z) in p.zones.iter().enumerate() {
            if p.zones[..i].iter().any(|o| o.zone == z.zone) {
                return Err(ModelError::IllegalParam(
                    "Zone",
                    format!("zone {} is listed twice", z.zone),
                ));
            }
            let (ip, ip6) =
                self.plan_zone(ctx.inv, &p.vpc_id, &svc_zones, p.ip_version, z, &planned)?;
            planned.push((z.clone(), ip, ip6));
        }
        let mut ep = Endpoint {
            id: String::new(),
            seq: 0,
            owner: ctx.caller,
            name: p.name,
            description: p.description,
            vpc_id: p.vpc_id,
            service_id,
            service_name,
            status: EndpointStatus::Active,
            ip_version: p.ip_version,
            zone_affinity: p.zone_affinity,
            security_groups: p.security_groups,
            zones: std::collections::BTreeMap::new(),
            connection: if auto_accept {
                ConnectionStatus::Connected
            } else {
                ConnectionStatus::Disconnected
            },
            // R31: the CLB default in force when the connection is accepted applies to it.
            bandwidth: if auto_accept { bandwidth } else { None },
            create_time: ctx.now.clone(),
            modified_time: ctx.now.clone(),
        };
        for (z, ip, ip6) in &planned {
            ep.zones.insert(
                z.zone.clone(),
                EndpointZone {
                    zone: z.zone.clone(),
                    vswitch_id: z.vswitch_id.clone(),
                    eni: Eni {
                        id: String::new(),
                        index: 0,
                        ip: *ip,
                        ip6: *ip6,
                    },
                    status: ZoneStatus::Wait,
                    allocation: Allocation::Auto,
                    resource_id: None,
                    replaced: None,
                },
            );
        }
        let allocs = if auto_accept {
            self.allocate_all(ctx.inv, &ep)?
        } else {
            Vec::new()
        };
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        ep.id = ctx.ids.fresh("ep-");
        ep.seq = self.next_seq();
        let zones: Vec<String> = ep.zones.keys().cloned().collect();
        for zid in zones {
            let z = ep.zones.get(&zid).expect("listed");
            let eni = self.next_eni(ctx, z.eni.ip, z.eni.ip6);
            ep.zones.get_mut(&zid).expect("listed").eni = eni;
        }
        for (zid, r) in allocs {
            let z = ep.zones.get_mut(&zid).expect("allocated above");
            z.resource_id = Some(r);
            z.status = ZoneStatus::Connected;
        }
        let id = ep.id.clone();
        self.endpoints.insert(id.clone(), ep);
        self.touch_endpoint(&id);
        Ok(id)
    }

    /// The service a consumer names, checked for visibility (R8) and name/id agreement (R10).
    fn consumer_service(
        &self,
        uid: Uid,
        id: Option<&str>,
        name: Option<&str>,
    ) -> Result<&Service, ModelError> {
        let svc = match (id, name) {
            (Some(id), _) => self
                .services
                .get(id)
                .ok_or_else(|| ModelError::EndpointServiceNotFound(id.to_owned()))?,
            (None, Some(n)) => self
                .services
                .values()
                .find(|s| s.name == n)
                .ok_or_else(|| ModelError::EndpointServiceNotFound(n.to_owned()))?,
            (None, None) => return Err(ModelError::MissingParam("ServiceId")),
        };
        if !svc.visible_to(uid) {
            return Err(ModelError::EndpointServiceNotAuthorized(svc.id.clone()));
        }
        if let Some(n) = name
            && svc.name != n
        {
            return Err(ModelError::Mismatch(
                "ServiceName",
                format!("{n} is not the name of service {}", svc.id),
            ));
        }
        Ok(svc)
    }

    /// Validates one zone of an endpoint and picks its addresses (R10, R11, R12).
    fn plan_zone(
        &self,
        inv: &Inventory,
        vpc: &str,
        svc_zones: &std::collections::BTreeSet<String>,
        ipv: IpVersion,
        z: &ZoneSpec,
        planned: &[(ZoneSpec, Ipv4Addr, Option<Ipv6Addr>)],
    ) -> Result<(Ipv4Addr, Option<Ipv6Addr>), ModelError> {
        if inv.zone(&z.zone).is_none() {
            return Err(ModelError::ResourceNotFound("Zone", z.zone.clone()));
        }
        if !svc_zones.contains(&z.zone) {
            return Err(ModelError::Mismatch(
                "ZoneId",
                format!("the service has no resource in zone {}", z.zone),
            ));
        }
        let vsw = inv
            .vswitch(&z.vswitch_id)
            .ok_or_else(|| ModelError::ResourceNotFound("VSwitch", z.vswitch_id.clone()))?;
        if vsw.vpc != vpc {
            return Err(ModelError::Mismatch(
                "VpcId",
                format!("vSwitch {} is not in VPC {vpc}", vsw.id),
            ));
        }
        if vsw.zone != z.zone {
            return Err(ModelError::Mismatch(
                "ZoneId",
                format!("vSwitch {} is in zone {}, not {}", vsw.id, vsw.zone, z.zone),
            ));
        }
        let extra4: Vec<Ipv4Addr> = planned
            .iter()
            .filter(|(o, ..)| o.vswitch_id == vsw.id)
            .map(|(_, ip, _)| *ip)
            .collect();
        let extra6: Vec<Ipv6Addr> = planned
            .iter()
            .filter(|(o, ..)| o.vswitch_id == vsw.id)
            .filter_map(|(_, _, ip6)| *ip6)
            .collect();
        let ip = ipam::assign_v4(&vsw.id, vsw.cidr, self.used_v4(&vsw.id), &extra4, z.ip)?;
        let ip6 = match (ipv, vsw.ipv6_cidr) {
            (IpVersion::DualStack, Some(c6)) => Some(ipam::assign_v6(
                &vsw.id,
                c6,
                self.used_v6(&vsw.id),
                &extra6,
                z.ip6,
            )?),
            (IpVersion::DualStack, None) => {
                return Err(ModelError::IllegalParam(
                    "VSwitchId",
                    format!("vSwitch {} has no IPv6 block (R12)", vsw.id),
                ));
            }
            (IpVersion::IPv4, _) => None,
        };
        Ok((ip, ip6))
    }

    /// UpdateVpcEndpointAttribute (R12, R14).
    pub fn update_endpoint(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        p: UpdateEndpoint,
    ) -> Result<(), ModelError> {
        let e = self.owned_endpoint(ctx.caller, id)?;
        let svc = self.services.get(&e.service_id);
        if p.zone_affinity == Some(true) && !svc.is_some_and(|s| s.zone_affinity) {
            return Err(ModelError::IllegalParam(
                "ZoneAffinityEnabled",
                "zone affinity needs a service with zone affinity (R14)".into(),
            ));
        }
        if let Some(v) = p.ip_version
            && v != e.ip_version
        {
            return Err(ModelError::IllegalParam(
                    "AddressIpVersion",
                    "changing the IP version of an existing endpoint is not supported; create a new endpoint".into(),
                ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let e = self.endpoints.get_mut(id).expect("checked");
        if let Some(v) = p.name {
            e.name = v;
        }
        if let Some(v) = p.description {
            e.description = v;
        }
        if let Some(v) = p.zone_affinity {
            e.zone_affinity = v;
        }
        self.touch_endpoint(id);
        Ok(())
    }

    /// DeleteVpcEndpoint: the endpoint, its ENIs and its connection go.
    pub fn delete_endpoint(&mut self, ctx: &Ctx<'_>, id: &str) -> Result<(), ModelError> {
        self.owned_endpoint(ctx.caller, id)?;
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.endpoints.remove(id);
        self.touch_endpoint(id);
        Ok(())
    }

    /// AddZoneToVpcEndpoint (R10–R12). The new zone connects at once if the connection is accepted.
    pub fn add_zone(&mut self, ctx: &mut Ctx<'_>, id: &str, z: ZoneSpec) -> Result<(), ModelError> {
        let e = self.owned_endpoint(ctx.caller, id)?;
        if e.zones.contains_key(&z.zone) {
            return Err(ModelError::IllegalParam(
                "ZoneId",
                format!("the endpoint already has zone {}", z.zone),
            ));
        }
        let svc = self
            .services
            .get(&e.service_id)
            .ok_or_else(|| ModelError::EndpointServiceNotFound(e.service_id.clone()))?;
        let (ip, ip6) = self.plan_zone(ctx.inv, &e.vpc_id, &svc.zones(), e.ip_version, &z, &[])?;
        let mut zone = EndpointZone {
            zone: z.zone.clone(),
            vswitch_id: z.vswitch_id.clone(),
            eni: Eni {
                id: String::new(),
                index: 0,
                ip,
                ip6,
            },
            status: ZoneStatus::Wait,
            allocation: Allocation::Auto,
            resource_id: None,
            replaced: None,
        };
        let connect = e.connection == ConnectionStatus::Connected;
        let alloc = if connect {
            Some(self.allocate(ctx.inv, &e.service_id, &zone, &[])?)
        } else {
            None
        };
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        zone.eni = self.next_eni(ctx, ip, ip6);
        if let Some(r) = alloc {
            zone.resource_id = Some(r);
            zone.status = ZoneStatus::Connected;
        }
        self.endpoints
            .get_mut(id)
            .expect("checked")
            .zones
            .insert(z.zone, zone);
        self.touch_endpoint(id);
        Ok(())
    }

    /// RemoveZoneFromVpcEndpoint: its ENI (and any replaced ENI) goes; an endpoint keeps one zone.
    pub fn remove_zone(&mut self, ctx: &Ctx<'_>, id: &str, zone: &str) -> Result<(), ModelError> {
        let e = self.owned_endpoint(ctx.caller, id)?;
        if !e.zones.contains_key(zone) {
            return Err(ModelError::ResourceNotFound(
                "EndpointZone",
                format!("{zone} of endpoint {id}"),
            ));
        }
        if e.zones.len() == 1 {
            return Err(ModelError::EndpointDependenceViolation(format!(
                "Zone {zone} is the last zone of endpoint {id}: delete the endpoint instead."
            )));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.endpoints
            .get_mut(id)
            .expect("checked")
            .zones
            .remove(zone);
        self.touch_endpoint(id);
        Ok(())
    }

    /// AttachSecurityGroupToVpcEndpoint (R13).
    pub fn attach_security_group(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        sg: &str,
    ) -> Result<(), ModelError> {
        let e = self.owned_endpoint(ctx.caller, id)?;
        check_sg(ctx.inv, ctx.caller, &e.vpc_id, sg)?;
        if e.security_groups.iter().any(|s| s == sg) {
            return Err(ModelError::IllegalParam(
                "SecurityGroupId",
                format!("{sg} is already attached"),
            ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.endpoints
            .get_mut(id)
            .expect("checked")
            .security_groups
            .push(sg.to_owned());
        self.touch_endpoint(id);
        Ok(())
    }

    /// DetachSecurityGroupFromVpcEndpoint (R13): an endpoint keeps at least one group.
    pub fn detach_security_group(
        &mut self,
        ctx: &Ctx<'_>,
        id: &str,
        sg: &str,
    ) -> Result<(), ModelError> {
        let e = self.owned_endpoint(ctx.caller, id)?;
        if !e.security_groups.iter().any(|s| s == sg) {
            return Err(ModelError::ResourceNotFound(
                "SecurityGroup",
                format!("{sg} on endpoint {id}"),
            ));
        }
        if e.security_groups.len() == 1 {
            return Err(ModelError::EndpointDependenceViolation(format!(
                "{sg} is the last security group of endpoint {id}."
            )));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        self.endpoints
            .get_mut(id)
            .expect("checked")
            .security_groups
            .retain(|s| s != sg);
        self.touch_endpoint(id);
        Ok(())
    }

    // ---------------------------------------------------------------- connections

    /// The endpoint connected to the caller's service `svc`.
    fn provider_connection(
        &self,
        uid: Uid,
        svc: &str,
        ep: &str,
    ) -> Result<(&Service, &Endpoint), ModelError> {
        let s = self.owned_service(uid, svc)?;
        let e = self
            .endpoints
            .get(ep)
            .filter(|e| e.service_id == svc)
            .ok_or_else(|| ModelError::EndpointConnectionNotFound(svc.to_owned(), ep.to_owned()))?;
        Ok((s, e))
    }

    /// Checks that the caller's service `svc` has a connection from `ep` (no change).
    pub fn connection_exists(
        &mut self,
        ctx: &Ctx<'_>,
        svc: &str,
        ep: &str,
    ) -> Result<(), ModelError> {
        self.provider_connection(ctx.caller, svc, ep)?;
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        Ok(())
    }

    /// EnableVpcEndpointConnection (R15, R16, R25, R32): allow, optionally with a bandwidth.
    pub fn enable_connection(
        &mut self,
        ctx: &Ctx<'_>,
        svc: &str,
        ep: &str,
        bandwidth: Option<u32>,
    ) -> Result<(), ModelError> {
        let (s, e) = self.provider_connection(ctx.caller, svc, ep)?;
        if let Some(bw) = bandwidth {
            check_bandwidth(s.resource_type, bw)?;
        }
        let default_bw = s.connect_bandwidth;
        if e.connection != ConnectionStatus::Disconnected {
            return Err(ModelError::IncorrectStatus(
                "EndpointConnection",
                e.connection.as_str(),
            ));
        }
        let allocs = self.allocate_all(ctx.inv, e)?;
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let e = self.endpoints.get_mut(ep).expect("checked");
        e.connection = ConnectionStatus::Connected;
        e.modified_time.clone_from(&ctx.now);
        if bandwidth.is_some() {
            e.bandwidth = bandwidth;
        } else if e.bandwidth.is_none() {
            e.bandwidth = default_bw;
        }
        for (zid, r) in allocs {
            let z = e.zones.get_mut(&zid).expect("allocated");
            z.resource_id = Some(r);
            z.status = ZoneStatus::Connected;
        }
        self.touch_endpoint(ep);
        Ok(())
    }

    /// DisableVpcEndpointConnection (R16): reject or disconnect; every zone releases its resource.
    pub fn disable_connection(
        &mut self,
        ctx: &Ctx<'_>,
        svc: &str,
        ep: &str,
    ) -> Result<(), ModelError> {
        let (_, e) = self.provider_connection(ctx.caller, svc, ep)?;
        if e.connection != ConnectionStatus::Connected
            && e.zones
                .values()
                .all(|z| z.status == ZoneStatus::Disconnected)
        {
            return Err(ModelError::IncorrectStatus(
                "EndpointConnection",
                e.connection.as_str(),
            ));
        }
        if e.connection != ConnectionStatus::Connected
            && e.connection != ConnectionStatus::Disconnected
        {
            return Err(ModelError::IncorrectStatus(
                "EndpointConnection",
                e.connection.as_str(),
            ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let e = self.endpoints.get_mut(ep).expect("checked");
        e.connection = ConnectionStatus::Disconnected;
        e.modified_time.clone_from(&ctx.now);
        for z in e.zones.values_mut() {
            z.status = ZoneStatus::Disconnected;
            z.resource_id = None;
            z.replaced = None;
        }
        self.touch_endpoint(ep);
        Ok(())
    }

    /// UpdateVpcEndpointConnectionAttribute (R30–R32): the per-connection bandwidth limit.
    pub fn update_connection(
        &mut self,
        ctx: &Ctx<'_>,
        svc: &str,
        ep: &str,
        bandwidth: u32,
    ) -> Result<(), ModelError> {
        let (s, e) = self.provider_connection(ctx.caller, svc, ep)?;
        check_bandwidth(s.resource_type, bandwidth)?;
        if e.connection == ConnectionStatus::ServiceDeleted {
            return Err(ModelError::IncorrectStatus(
                "EndpointConnection",
                e.connection.as_str(),
            ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let e = self.endpoints.get_mut(ep).expect("checked");
        e.bandwidth = Some(bandwidth);
        e.modified_time.clone_from(&ctx.now);
        self.touch_endpoint(ep);
        Ok(())
    }

    /// EnableVpcEndpointZoneConnection (R25): reconnect a disconnected zone, allocating per its mode.
    pub fn enable_zone(
        &mut self,
        ctx: &Ctx<'_>,
        svc: &str,
        ep: &str,
        zone: &str,
    ) -> Result<(), ModelError> {
        let (_, e) = self.provider_connection(ctx.caller, svc, ep)?;
        if e.connection != ConnectionStatus::Connected {
            return Err(ModelError::IncorrectStatus(
                "EndpointConnection",
                e.connection.as_str(),
            ));
        }
        let z = e.zones.get(zone).ok_or_else(|| {
            ModelError::ResourceNotFound("EndpointZone", format!("{zone} of endpoint {ep}"))
        })?;
        if z.status != ZoneStatus::Disconnected && z.status != ZoneStatus::Wait {
            return Err(ModelError::IncorrectStatus(
                "EndpointZone",
                z.status.as_str(),
            ));
        }
        let r = self.allocate(ctx.inv, svc, z, &[])?;
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let e = self.endpoints.get_mut(ep).expect("checked");
        e.modified_time.clone_from(&ctx.now);
        let z = e.zones.get_mut(zone).expect("checked");
        z.resource_id = Some(r);
        z.status = ZoneStatus::Connected;
        self.touch_endpoint(ep);
        Ok(())
    }

    /// DisableVpcEndpointZoneConnection: disconnect a zone (R25, R26), or with
    /// `replaced_resource` finish a smooth migration by dropping the old path (R28).
    pub fn disable_zone(
        &mut self,
        ctx: &Ctx<'_>,
        svc: &str,
        ep: &str,
        zone: &str,
        replaced_resource: bool,
    ) -> Result<(), ModelError> {
        let (_, e) = self.provider_connection(ctx.caller, svc, ep)?;
        let z = e.zones.get(zone).ok_or_else(|| {
            ModelError::ResourceNotFound("EndpointZone", format!("{zone} of endpoint {ep}"))
        })?;
        if replaced_resource {
            if z.status != ZoneStatus::Migrating || z.replaced.is_none() {
                return Err(ModelError::IncorrectStatus(
                    "EndpointZone",
                    z.status.as_str(),
                ));
            }
        } else if z.status != ZoneStatus::Connected && z.status != ZoneStatus::Migrating {
            return Err(ModelError::IncorrectStatus(
                "EndpointZone",
                z.status.as_str(),
            ));
        }
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let e = self.endpoints.get_mut(ep).expect("checked");
        e.modified_time.clone_from(&ctx.now);
        let z = e.zones.get_mut(zone).expect("checked");
        z.replaced = None;
        if replaced_resource {
            z.status = ZoneStatus::Connected;
        } else {
            z.status = ZoneStatus::Disconnected;
            z.resource_id = None;
        }
        self.touch_endpoint(ep);
        Ok(())
    }

    /// UpdateVpcEndpointZoneConnectionResourceAttribute: set a disconnected zone's allocation
    /// (R25), or replace a connected zone's resource gracefully or by force (R27–R29).
    pub fn update_zone_resource(
        &mut self,
        ctx: &mut Ctx<'_>,
        svc: &str,
        ep: &str,
        zone: &str,
        allocation: Allocation,
        replace: Option<ReplaceMode>,
    ) -> Result<(), ModelError> {
        let (s, e) = self.provider_connection(ctx.caller, svc, ep)?;
        let z = e.zones.get(zone).ok_or_else(|| {
            ModelError::ResourceNotFound("EndpointZone", format!("{zone} of endpoint {ep}"))
        })?;
        if let Allocation::Manual(r) = &allocation
            && !s.resources.contains_key(&(zone.to_owned(), r.clone()))
        {
            return Err(ModelError::ResourceNotFound(
                "Resource",
                format!("{r} in zone {zone} of service {svc}"),
            ));
        }
        let connected = matches!(z.status, ZoneStatus::Connected | ZoneStatus::Migrating);
        let Some(mode) = replace else {
            if connected {
                return Err(ModelError::IncorrectStatus(
                    "EndpointZone",
                    z.status.as_str(),
                ));
            }
            if ctx.dry_run {
                return Err(ModelError::DryRunOperation);
            }
            let z = self
                .endpoints
                .get_mut(ep)
                .and_then(|e| e.zones.get_mut(zone))
                .expect("checked");
            z.allocation = allocation;
            self.touch_endpoint(ep);
            return Ok(());
        };
        if z.status != ZoneStatus::Connected {
            return Err(ModelError::IncorrectStatus(
                "EndpointZone",
                z.status.as_str(),
            ));
        }
        let Allocation::Manual(new) = allocation else {
            return Err(ModelError::MissingParam("ResourceId"));
        };
        let old = z
            .resource_id
            .clone()
            .expect("a connected zone has a resource");
        if old == new {
            return Err(ModelError::IllegalParam(
                "ResourceId",
                format!("{new} already serves zone {zone}"),
            ));
        }
        if s.resources
            .get(&(zone.to_owned(), old.clone()))
            .is_some_and(|r| r.auto_allocated)
        {
            return Err(ModelError::ResourceAutoAllocateViolation(format!(
                "Turn off automatic allocation of {old} before replacing it (R27)."
            )));
        }
        let (ip, ip6) = if mode == ReplaceMode::Graceful {
            let vsw = ctx
                .inv
                .vswitch(&z.vswitch_id)
                .ok_or_else(|| ModelError::ResourceNotFound("VSwitch", z.vswitch_id.clone()))?;
            let ip = ipam::assign_v4(&vsw.id, vsw.cidr, self.used_v4(&vsw.id), &[], None)?;
            let ip6 = match (z.eni.ip6, vsw.ipv6_cidr) {
                (Some(_), Some(c6)) => Some(ipam::assign_v6(
                    &vsw.id,
                    c6,
                    self.used_v6(&vsw.id),
                    &[],
                    None,
                )?),
                _ => None,
            };
            (ip, ip6)
        } else {
            (Ipv4Addr::UNSPECIFIED, None)
        };
        if ctx.dry_run {
            return Err(ModelError::DryRunOperation);
        }
        let new_eni = (mode == ReplaceMode::Graceful).then(|| self.next_eni(ctx, ip, ip6));
        let e = self.endpoints.get_mut(ep).expect("checked");
        e.modified_time.clone_from(&ctx.now);
        let z = e.zones.get_mut(zone).expect("checked");
        z.allocation = Allocation::Manual(new.clone());
        z.resource_id = Some(new);
        if let Some(eni) = new_eni {
            let old_eni = std::mem::replace(&mut z.eni, eni);
            z.replaced = Some(ReplacedPath {
                eni: old_eni,
                resource_id: old,
            });
            z.status = ZoneStatus::Migrating;
        }
        self.touch_endpoint(ep);
        Ok(())
    }
}

fn lb_of<'a>(
    inv: &'a Inventory,
    caller: Uid,
    id: &str,
) -> Result<&'a crate::inventory::LoadBalancer, ModelError> {
    let lb = inv
        .load_balancer(id)
        .ok_or_else(|| ModelError::ResourceNotFound("Resource", id.to_owned()))?;
    if lb.owner != caller {
        return Err(ModelError::Forbidden(format!(
            "The resource {id} belongs to another account."
        )));
    }
    Ok(lb)
}

fn check_resource(
    inv: &Inventory,
    caller: Uid,
    rtype: LbType,
    ipv: IpVersion,
    r: &ResourceSpec,
) -> Result<(), ModelError> {
    let lb = lb_of(inv, caller, &r.id)?;
    if let Some(t) = r.resource_type
        && t != lb.lb_type
    {
        return Err(ModelError::Mismatch(
            "ResourceType",
            format!(
                "{} is a {}, not a {}",
                r.id,
                lb.lb_type.api_name(),
                t.api_name()
            ),
        ));
    }
    if lb.lb_type != rtype {
        return Err(ModelError::Mismatch(
            "ResourceType",
            format!(
                "{} is a {}; every resource of this service must be a {} (R2)",
                r.id,
                lb.lb_type.api_name(),
                rtype.api_name()
            ),
        ));
    }
    if inv.zone(&r.zone).is_none() {
        return Err(ModelError::ResourceNotFound("Zone", r.zone.clone()));
    }
    if lb.in_zone(&r.zone).is_none() {
        return Err(ModelError::Mismatch(
            "ZoneId",
            format!("{} has no address in zone {}", r.id, r.zone),
        ));
    }
    if ipv == IpVersion::DualStack {
        check_dual_stack(inv, rtype, std::iter::once(r.id.as_str()))?;
    }
    Ok(())
}

fn check_dual_stack<'a>(
    inv: &Inventory,
    rtype: LbType,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), ModelError> {
    if rtype == LbType::Clb {
        return Err(ModelError::IllegalParam(
            "AddressIpVersion",
            "a CLB never supports DualStack (R4)".into(),
        ));
    }
    for id in ids {
        if !inv.load_balancer(id).is_some_and(|lb| lb.dual_stack) {
            return Err(ModelError::IllegalParam(
                "AddressIpVersion",
                format!("resource {id} does not support dual stack (R4)"),
            ));
        }
    }
    Ok(())
}

fn check_sg(inv: &Inventory, caller: Uid, vpc: &str, sg: &str) -> Result<(), ModelError> {
    let g = inv
        .security_group(sg)
        .ok_or_else(|| ModelError::ResourceNotFound("SecurityGroup", sg.to_owned()))?;
    if g.owner != caller {
        return Err(ModelError::Forbidden(format!(
            "The security group {sg} belongs to another account."
        )));
    }
    if g.vpc != vpc {
        return Err(ModelError::Mismatch(
            "VpcId",
            format!("security group {sg} is not in VPC {vpc}"),
        ));
    }
    Ok(())
}

/// Any positive UID may be whitelisted, even one this installation does not know yet (as in
/// the cloud, where the provider cannot enumerate accounts).
fn check_principal(_inv: &Inventory, p: Principal) -> Result<(), ModelError> {
    match p {
        Principal::Account(u) if u <= 0 => Err(ModelError::IllegalParam(
            "UserId",
            format!("{u} is not an account UID"),
        )),
        _ => Ok(()),
    }
}

/// Validates a per-connection bandwidth (R32).
pub fn check_bandwidth(t: LbType, bw: u32) -> Result<(), ModelError> {
    let (lo, hi) = super::bandwidth_range(t);
    if (lo..=hi).contains(&bw) {
        Ok(())
    } else {
        Err(ModelError::IllegalParam(
            "Bandwidth",
            format!(
                "{bw} Mbps is outside {lo}-{hi} Mbps for {} (R32)",
                t.api_name()
            ),
        ))
    }
}
