//! One function per API operation: parse and authorise the parameters, then either read the
//! committed table or send a typed command to the state owner. Response fields are named and
//! typed exactly as in the SDK's models (`docs/api-reference.md` §6).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::params::page;
use super::{Api, ApiError, Params};
use crate::inventory::{Inventory, LbType};
use crate::model::{
    Allocation, ConnectionStatus, CreateEndpoint, CreateService, Ctx, Endpoint, IpVersion,
    ModelError, Payer, Principal, ReplaceMode, ResourceSpec, Service, Table, Uid, UpdateEndpoint,
    UpdateService, ZoneSpec,
};
use crate::state::Command;

type Out = Result<Value, ApiError>;

/// Routes an action to its handler.
pub async fn dispatch(api: &Api, caller: Uid, action: &str, p: &Params) -> Out {
    match action {
        "DescribeRegions" => describe_regions(api, p),
        "DescribeZones" => describe_zones(api, p),
        "CreateVpcEndpointService" => create_service(api, caller, p).await,
        "UpdateVpcEndpointServiceAttribute" => update_service(api, caller, p).await,
        "DeleteVpcEndpointService" => delete_service(api, caller, p).await,
        "GetVpcEndpointServiceAttribute" => get_service(api, caller, p),
        "ListVpcEndpointServices" => list_services(api, caller, p),
        "ListVpcEndpointServicesByEndUser" => list_services_by_end_user(api, caller, p),
        "AddUserToVpcEndpointService" => user_op(api, caller, p, true).await,
        "RemoveUserFromVpcEndpointService" => user_op(api, caller, p, false).await,
        "ListVpcEndpointServiceUsers" => list_users(api, caller, p),
        "AttachResourceToVpcEndpointService" => attach_resource(api, caller, p).await,
        "DetachResourceFromVpcEndpointService" => detach_resource(api, caller, p).await,
        "UpdateVpcEndpointServiceResourceAttribute" => update_resource(api, caller, p).await,
        "ListVpcEndpointServiceResources" => list_resources(api, caller, p),
        "CreateVpcEndpoint" => create_endpoint(api, caller, p).await,
        "UpdateVpcEndpointAttribute" => update_endpoint(api, caller, p).await,
        "DeleteVpcEndpoint" => delete_endpoint(api, caller, p).await,
        "GetVpcEndpointAttribute" => get_endpoint(api, caller, p),
        "ListVpcEndpoints" => list_endpoints(api, caller, p),
        "AddZoneToVpcEndpoint" => add_zone(api, caller, p).await,
        "RemoveZoneFromVpcEndpoint" => remove_zone(api, caller, p).await,
        "ListVpcEndpointZones" => list_zones(api, caller, p),
        "AttachSecurityGroupToVpcEndpoint" => sg_op(api, caller, p, true).await,
        "DetachSecurityGroupFromVpcEndpoint" => sg_op(api, caller, p, false).await,
        "ListVpcEndpointSecurityGroups" => list_sgs(api, caller, p),
        "EnableVpcEndpointConnection" => enable_connection(api, caller, p).await,
        "DisableVpcEndpointConnection" => disable_connection(api, caller, p).await,
        "UpdateVpcEndpointConnectionAttribute" => update_connection(api, caller, p).await,
        "ListVpcEndpointConnections" => list_connections(api, caller, p),
        "EnableVpcEndpointZoneConnection" => enable_zone(api, caller, p).await,
        "DisableVpcEndpointZoneConnection" => disable_zone(api, caller, p).await,
        "UpdateVpcEndpointZoneConnectionResourceAttribute" => {
            update_zone_resource(api, caller, p).await
        }
        "" => Err(ApiError::missing("Action")),
        other => Err(ApiError {
            status: 404,
            code: "InvalidAction.NotFound".into(),
            message: format!("Specified api {other} is not found."),
        }),
    }
}

// ------------------------------------------------------------------ helpers

/// Checks `RegionId` (required unless `optional`).
fn region(api: &Api, p: &Params, optional: bool) -> Result<(), ApiError> {
    let want = &api.state.inventory().region;
    match p.opt("RegionId") {
        None if optional => Ok(()),
        None => Err(ApiError::missing("RegionId")),
        Some(r) if r == want => Ok(()),
        Some(r) => Err(ApiError::illegal(
            "RegionId",
            format!("this installation serves region {want}, not {r}"),
        )),
    }
}

async fn write<F>(api: &Api, caller: Uid, action: &str, p: &Params, f: F) -> Out
where
    F: FnOnce(&mut Table, &mut Ctx<'_>) -> Result<Value, ModelError> + Send + 'static,
{
    let dry_run = p.bool("DryRun")?.unwrap_or(false);
    let token = if dry_run {
        None
    } else {
        p.opt("ClientToken")
            .map(|t| format!("{caller}/{action}/{t}"))
    };
    Ok(api
        .state
        .write(Command {
            caller,
            dry_run,
            token,
            apply: Box::new(f),
        })
        .await?)
}

fn empty() -> Value {
    Value::Object(Map::new())
}

fn lb_type(name: &str, v: &str) -> Result<LbType, ApiError> {
    LbType::from_api(v)
        .ok_or_else(|| ApiError::illegal(name, format!("{v:?} is not one of slb, alb, nlb")))
}

fn ip_version(p: &Params) -> Result<Option<IpVersion>, ApiError> {
    p.opt("AddressIpVersion")
        .map(|v| IpVersion::parse(v).map_err(ApiError::from))
        .transpose()
}

fn paged(items: Vec<Value>, key: &str, pg: (usize, usize), total_as_string: Option<bool>) -> Out {
    let max = pg.0;
    let (items, next, total) = page(items, pg)?;
    let mut m = Map::new();
    m.insert(key.into(), Value::Array(items));
    m.insert("MaxResults".into(), json!(max));
    m.insert("NextToken".into(), json!(next));
    match total_as_string {
        Some(true) => {
            m.insert("TotalCount".into(), json!(total.to_string()));
        }
        Some(false) => {
            m.insert("TotalCount".into(), json!(total));
        }
        None => {}
    }
    Ok(Value::Object(m))
}

fn bandwidth_of(t: &Table, e: &Endpoint) -> u32 {
    let svc = t.services.get(&e.service_id);
    e.bandwidth
        .unwrap_or_else(|| svc.and_then(|s| s.connect_bandwidth).unwrap_or(0))
}

// ------------------------------------------------------------------ rendering

fn service_json(inv: &Inventory, s: &Service, with_zones: bool) -> Value {
    let (lo, hi) = s.bandwidth_range();
    let mut v = json!({
        "AddressIpVersion": s.ip_version.as_str(),
        "AutoAcceptEnabled": s.auto_accept,
        "ConnectBandwidth": s.connect_bandwidth.unwrap_or(0),
        "CreateTime": s.create_time,
        "MaxBandwidth": hi,
        "MinBandwidth": lo,
        "Payer": s.payer.as_str(),
        "RegionId": inv.region,
        "ServiceBusinessStatus": "Normal",
        "ServiceDescription": s.description,
        "ServiceDomain": Table::service_domain(inv, s),
        "ServiceId": s.id,
        "ServiceName": s.name,
        "ServiceResourceType": s.resource_type.api_name(),
        "ServiceStatus": s.status.as_str(),
        "ServiceSupportIPv6": s.ip_version == IpVersion::DualStack,
        "ServiceType": "Interface",
        "ZoneAffinityEnabled": s.zone_affinity,
    });
    if with_zones {
        v["Zones"] = json!(s.zones().into_iter().collect::<Vec<_>>());
    }
    v
}

fn endpoint_json(inv: &Inventory, t: &Table, e: &Endpoint) -> Value {
    let svc = t.services.get(&e.service_id);
    json!({
        "AddressIpVersion": e.ip_version.as_str(),
        "Bandwidth": bandwidth_of(t, e),
        "ConnectionStatus": e.connection.as_str(),
        "CreateTime": e.create_time,
        "CrossRegionBandwidth": 0,
        "EndpointBusinessStatus": "Normal",
        "EndpointDescription": e.description,
        "EndpointDomain": Table::endpoint_domain(inv, e),
        "EndpointId": e.id,
        "EndpointName": e.name,
        "EndpointStatus": e.status.as_str(),
        "EndpointType": "Interface",
        "Payer": svc.map_or("Endpoint", |s| s.payer.as_str()),
        "ProtectedEnabled": false,
        "RegionId": inv.region,
        "ResourceOwner": svc.is_some_and(|s| s.owner == e.owner),
        "ServiceId": e.service_id,
        "ServiceName": e.service_name,
        "ServiceRegionId": inv.region,
        "VpcId": e.vpc_id,
        "ZoneAffinityEnabled": e.zone_affinity,
        "ZonePrivateIpAddressCount": 1,
    })
}

fn connection_json(inv: &Inventory, t: &Table, e: &Endpoint) -> Value {
    let zones: Vec<Value> = e
        .zones
        .values()
        .map(|z| {
            json!({
                "EniId": z.eni.id,
                "ReplacedEniId": z.replaced.as_ref().map_or("", |r| r.eni.id.as_str()),
                "ReplacedResourceId": z.replaced.as_ref().map_or("", |r| r.resource_id.as_str()),
                "ResourceId": z.resource_id.as_deref().unwrap_or(""),
                "VSwitchId": z.vswitch_id,
                "ZoneDomain": Table::zone_domain(inv, e, &z.zone),
                "ZoneId": z.zone,
                "ZoneStatus": z.status.as_str(),
            })
        })
        .collect();
    json!({
        "Bandwidth": bandwidth_of(t, e),
        "ConnectionStatus": e.connection.as_str(),
        "EndpointId": e.id,
        "EndpointOwnerId": e.owner,
        "EndpointRegionId": inv.region,
        "EndpointVpcId": e.vpc_id,
        "ModifiedTime": e.modified_time,
        "ResourceOwner": t.services.get(&e.service_id).is_some_and(|s| s.owner == e.owner),
        "ServiceId": e.service_id,
        "ServiceRegionId": inv.region,
        "TrafficControlMode": "",
        "Zones": zones,
    })
}

// ------------------------------------------------------------------ inventory

fn describe_regions(api: &Api, p: &Params) -> Out {
    region(api, p, true)?;
    let inv = api.state.inventory();
    Ok(json!({"Regions": {"Region": [{
        "LocalName": inv.region_name.clone().unwrap_or_else(|| inv.region.clone()),
        "RegionEndpoint": format!("privatelink.{}.{}", inv.region, inv.domain_suffix),
        "RegionId": inv.region,
        "ServiceResourceTypes": {"ServiceResourceType": ["slb", "alb", "nlb"]},
    }]}}))
}

fn describe_zones(api: &Api, p: &Params) -> Out {
    region(api, p, false)?;
    let inv = api.state.inventory();
    let zones: Vec<Value> = inv
        .zones
        .iter()
        .map(|z| json!({"LocalName": z.name.clone().unwrap_or_else(|| z.id.clone()), "ZoneId": z.id}))
        .collect();
    Ok(json!({"Zones": {"Zone": zones}}))
}

// ------------------------------------------------------------------ services

async fn create_service(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let resource_type = p
        .opt("ServiceResourceType")
        .map(|v| lb_type("ServiceResourceType", v))
        .transpose()?;
    let mut resources = Vec::new();
    for r in p.objects("Resource") {
        resources.push(ResourceSpec {
            id: r.req("ResourceId")?.to_owned(),
            resource_type: r
                .opt("ResourceType")
                .map(|v| lb_type("ResourceType", v))
                .transpose()?,
            zone: r.req("ZoneId")?.to_owned(),
        });
    }
    let mut ipv = ip_version(p)?.unwrap_or(IpVersion::IPv4);
    if p.bool("ServiceSupportIPv6")? == Some(true) {
        ipv = IpVersion::DualStack;
    }
    let req = CreateService {
        resource_type,
        resources,
        auto_accept: p.bool("AutoAcceptEnabled")?.unwrap_or(false),
        zone_affinity: p.bool("ZoneAffinityEnabled")?.unwrap_or(false),
        ip_version: ipv,
        payer: p
            .opt("Payer")
            .map(Payer::parse)
            .transpose()?
            .unwrap_or(Payer::Endpoint),
        description: p.opt("ServiceDescription").unwrap_or("").to_owned(),
    };
    write(api, caller, "CreateVpcEndpointService", p, move |t, ctx| {
        let id = t.create_service(ctx, req)?;
        let s = &t.services[&id];
        let mut v = service_json(ctx.inv, s, false);
        if let Value::Object(m) = &mut v {
            for k in [
                "ConnectBandwidth",
                "MaxBandwidth",
                "MinBandwidth",
                "Payer",
                "RegionId",
                "ServiceResourceType",
                "ServiceType",
            ] {
                m.remove(k);
            }
        }
        Ok(v)
    })
    .await
}

async fn update_service(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?.to_owned();
    let mut ipv = ip_version(p)?;
    match p.bool("ServiceSupportIPv6")? {
        Some(true) => ipv = Some(IpVersion::DualStack),
        Some(false) if ipv.is_none() => ipv = Some(IpVersion::IPv4),
        _ => {}
    }
    let up = UpdateService {
        auto_accept: p.bool("AutoAcceptEnabled")?,
        zone_affinity: p.bool("ZoneAffinityEnabled")?,
        description: p.opt("ServiceDescription").map(str::to_owned),
        connect_bandwidth: p.u32("ConnectBandwidth")?,
        ip_version: ipv,
        payer: p.opt("Payer").map(Payer::parse).transpose()?,
    };
    write(
        api,
        caller,
        "UpdateVpcEndpointServiceAttribute",
        p,
        move |t, ctx| t.update_service(ctx, &id, up).map(|()| empty()),
    )
    .await
}

async fn delete_service(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?.to_owned();
    write(api, caller, "DeleteVpcEndpointService", p, move |t, ctx| {
        t.delete_service(ctx, &id).map(|()| empty())
    })
    .await
}

fn get_service(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?;
    let t = api.state.read();
    let s = t.owned_service(caller, id)?;
    Ok(service_json(api.state.inventory(), s, true))
}

fn list_services(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(1000)?;
    let f_id = p.opt("ServiceId");
    let f_name = p.opt("ServiceName");
    let f_status = p.opt("ServiceStatus");
    let f_auto = p.bool("AutoAcceptEnabled")?;
    let f_type = p
        .opt("ServiceResourceType")
        .map(|v| lb_type("ServiceResourceType", v))
        .transpose()?;
    let f_res = p.opt("ResourceId");
    let f_ipv = ip_version(p)?;
    let f_aff = p.bool("ZoneAffinityEnabled")?;
    let inv = api.state.inventory();
    let t = api.state.read();
    let mut svcs: Vec<&Service> = t
        .services
        .values()
        .filter(|s| s.owner == caller)
        .filter(|s| f_id.is_none_or(|x| s.id == x))
        .filter(|s| f_name.is_none_or(|x| s.name == x))
        .filter(|s| f_status.is_none_or(|x| s.status.as_str() == x))
        .filter(|s| f_auto.is_none_or(|x| s.auto_accept == x))
        .filter(|s| f_type.is_none_or(|x| s.resource_type == x))
        .filter(|s| f_res.is_none_or(|x| s.resources.values().any(|r| r.id == x)))
        .filter(|s| f_ipv.is_none_or(|x| s.ip_version == x))
        .filter(|s| f_aff.is_none_or(|x| s.zone_affinity == x))
        .collect();
    svcs.sort_by_key(|s| s.seq);
    let items = svcs
        .into_iter()
        .map(|s| service_json(inv, s, false))
        .collect();
    paged(items, "Services", pg, Some(false))
}

fn list_services_by_end_user(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(1000)?;
    if let Some(r) = p.opt("ServiceRegionId")
        && r != api.state.inventory().region
    {
        return Err(ApiError::bad(
            "Mismatch.RegionId",
            format!("services of region {r} are not served here (R1)"),
        ));
    }
    let f_id = p.opt("ServiceId");
    let f_name = p.opt("ServiceName");
    let f_type = p.opt("ServiceType");
    let inv = api.state.inventory();
    let t = api.state.read();
    let mut svcs: Vec<&Service> = t
        .services
        .values()
        .filter(|s| s.visible_to(caller))
        .filter(|s| f_id.is_none_or(|x| s.id == x))
        .filter(|s| f_name.is_none_or(|x| s.name == x))
        .filter(|_| f_type.is_none_or(|x| x == "Interface"))
        .collect();
    svcs.sort_by_key(|s| s.seq);
    let items = svcs
        .into_iter()
        .map(|s| {
            json!({
                "AddressIpVersion": s.ip_version.as_str(),
                "AutoAcceptEnabled": s.auto_accept,
                "Payer": s.payer.as_str(),
                "ServiceDomain": Table::service_domain(inv, s),
                "ServiceId": s.id,
                "ServiceName": s.name,
                "ServiceResourceType": s.resource_type.api_name(),
                "ServiceSupportIPv6": s.ip_version == IpVersion::DualStack,
                "ServiceType": "Interface",
                "VpcEndpointPolicySupported": false,
                "ZoneAffinityEnabled": s.zone_affinity,
                "Zones": s.zones().into_iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    paged(items, "Services", pg, Some(true))
}

// ------------------------------------------------------------------ whitelist

fn principal(p: &Params) -> Result<Principal, ApiError> {
    if let Some(arn) = p.opt("UserARN") {
        if arn == "*" {
            return Ok(Principal::All);
        }
        let uid = arn
            .strip_prefix("acs:ram:*:")
            .and_then(|r| r.strip_suffix(":*").or_else(|| r.split(':').next()))
            .and_then(|u| u.parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::illegal("UserARN", format!("{arn:?} is not * or acs:ram:*:<uid>:*"))
            })?;
        return Ok(Principal::Account(uid));
    }
    match p.opt("UserId") {
        Some("*") => Ok(Principal::All),
        Some(_) => Ok(Principal::Account(p.i64("UserId")?.expect("present"))),
        None => Err(ApiError::missing("UserId")),
    }
}

async fn user_op(api: &Api, caller: Uid, p: &Params, add: bool) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?.to_owned();
    let who = principal(p)?;
    let action = if add {
        "AddUserToVpcEndpointService"
    } else {
        "RemoveUserFromVpcEndpointService"
    };
    write(api, caller, action, p, move |t, ctx| {
        if add {
            t.add_user(ctx, &id, who)
        } else {
            t.remove_user(ctx, &id, who)
        }
        .map(|()| empty())
    })
    .await
}

fn list_users(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(50)?;
    let id = p.req("ServiceId")?;
    let f_uid = p.i64("UserId")?;
    let arns = match p.opt("UserListType") {
        None | Some("Users") => false,
        Some("UserARNs") => true,
        Some(o) => {
            return Err(ApiError::illegal(
                "UserListType",
                format!("{o:?} is not Users or UserARNs"),
            ));
        }
    };
    let t = api.state.read();
    let s = t.owned_service(caller, id)?;
    let users = s
        .users
        .iter()
        .filter(|u| f_uid.is_none_or(|x| **u == Principal::Account(x)));
    if arns {
        let items = users
            .map(|u| match u {
                Principal::All => json!({"UserARN": "*"}),
                Principal::Account(x) => json!({"UserARN": format!("acs:ram:*:{x}:*")}),
            })
            .collect();
        let mut v = paged(items, "UserARNs", pg, Some(true))?;
        v["Users"] = json!([]);
        Ok(v)
    } else {
        let items = users
            .filter_map(|u| match u {
                Principal::All => None,
                Principal::Account(x) => Some(json!({"UserId": x})),
            })
            .collect();
        let mut v = paged(items, "Users", pg, Some(true))?;
        v["UserARNs"] = json!([]);
        Ok(v)
    }
}

// ------------------------------------------------------------------ resources

async fn attach_resource(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?.to_owned();
    let spec = ResourceSpec {
        id: p.req("ResourceId")?.to_owned(),
        resource_type: Some(lb_type("ResourceType", p.req("ResourceType")?)?),
        zone: p.req("ZoneId")?.to_owned(),
    };
    write(
        api,
        caller,
        "AttachResourceToVpcEndpointService",
        p,
        move |t, ctx| t.attach_resource(ctx, &id, spec).map(|()| empty()),
    )
    .await
}

/// The zone of a resource when the request leaves `ZoneId` out: its only attachment.
fn resource_zone(
    api: &Api,
    caller: Uid,
    p: &Params,
    svc: &str,
    res: &str,
) -> Result<String, ApiError> {
    if let Some(z) = p.opt("ZoneId") {
        return Ok(z.to_owned());
    }
    let t = api.state.read();
    let s = t.owned_service(caller, svc)?;
    let zones: Vec<&String> = s
        .resources
        .keys()
        .filter(|(_, r)| r == res)
        .map(|(z, _)| z)
        .collect();
    match zones.as_slice() {
        [z] => Ok((*z).clone()),
        [] => Err(ModelError::ResourceNotFound("Resource", res.to_owned()).into()),
        _ => Err(ApiError::missing("ZoneId")),
    }
}

async fn detach_resource(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?.to_owned();
    let res = p.req("ResourceId")?.to_owned();
    if let Some(rt) = p.opt("ResourceType") {
        lb_type("ResourceType", rt)?;
    }
    let zone = resource_zone(api, caller, p, &id, &res)?;
    write(
        api,
        caller,
        "DetachResourceFromVpcEndpointService",
        p,
        move |t, ctx| t.detach_resource(ctx, &id, &res, &zone).map(|()| empty()),
    )
    .await
}

async fn update_resource(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("ServiceId")?.to_owned();
    let res = p.req("ResourceId")?.to_owned();
    let auto = p
        .bool("AutoAllocatedEnabled")?
        .ok_or_else(|| ApiError::missing("AutoAllocatedEnabled"))?;
    let zone = resource_zone(api, caller, p, &id, &res)?;
    write(
        api,
        caller,
        "UpdateVpcEndpointServiceResourceAttribute",
        p,
        move |t, ctx| {
            t.update_resource(ctx, &id, &res, &zone, auto)
                .map(|()| empty())
        },
    )
    .await
}

fn list_resources(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(50)?;
    let id = p.req("ServiceId")?;
    let inv = api.state.inventory();
    let t = api.state.read();
    let s = t.owned_service(caller, id)?;
    let mut items = Vec::new();
    for r in s.resources.values() {
        let load = t.resource_load(&s.id, &r.zone);
        let (used, replaced) = load.get(&r.id).copied().unwrap_or((0, 0));
        let lb = inv.load_balancer(&r.id);
        let vip = lb.and_then(|lb| lb.in_zone(&r.zone)).map(|z| z.vip);
        let vsw = vip.and_then(|ip| {
            inv.vswitches
                .iter()
                .find(|v| v.zone == r.zone && v.cidr.contains(ip))
        });
        items.push(json!({
            "AutoAllocatedEnabled": r.auto_allocated,
            "Ip": vip.map(|v| v.to_string()).unwrap_or_default(),
            "RegionId": inv.region,
            "RelatedDeprecatedEndpointCount": replaced,
            "RelatedEndpointCount": used,
            "ResourceId": r.id,
            "ResourceSupportIPv6": lb.is_some_and(|lb| lb.dual_stack),
            "ResourceType": s.resource_type.api_name(),
            "VSwitchId": vsw.map(|v| v.id.clone()).unwrap_or_default(),
            "VpcId": vsw.map(|v| v.vpc.clone()).unwrap_or_default(),
            "ZoneId": r.zone,
        }));
    }
    paged(items, "Resources", pg, None)
}

// ------------------------------------------------------------------ endpoints

fn zone_spec(z: &Params, ip_key: &str) -> Result<ZoneSpec, ApiError> {
    Ok(ZoneSpec {
        zone: z.req("ZoneId")?.to_owned(),
        vswitch_id: z.req("VSwitchId")?.to_owned(),
        ip: z
            .opt(ip_key)
            .map(|v| {
                v.parse::<Ipv4Addr>()
                    .map_err(|_| ApiError::illegal("Ip", format!("{v:?} is not an IPv4 address")))
            })
            .transpose()?,
        ip6: z
            .opt("Ipv6Address")
            .map(|v| {
                v.parse::<Ipv6Addr>().map_err(|_| {
                    ApiError::illegal("Ipv6Address", format!("{v:?} is not an IPv6 address"))
                })
            })
            .transpose()?,
    })
}

async fn create_endpoint(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    if let Some(r) = p.opt("ServiceRegionId")
        && r != api.state.inventory().region
    {
        return Err(ApiError::bad(
            "Mismatch.RegionId",
            format!(
                "the endpoint and its service must be in the same region (R1); {r} is not served here"
            ),
        ));
    }
    if let Some(t) = p.opt("EndpointType")
        && t != "Interface"
    {
        return Err(ApiError::illegal(
            "EndpointType",
            format!("{t:?}: only Interface endpoints exist here"),
        ));
    }
    let vpc = p.req("VpcId")?.to_owned();
    let service_id = p.opt("ServiceId").map(str::to_owned);
    let service_name = p.opt("ServiceName").map(str::to_owned);
    if service_id.is_none() && service_name.is_none() {
        return Err(ApiError::missing("ServiceId"));
    }
    let zones = p
        .objects("Zone")
        .iter()
        .map(|z| zone_spec(z, "ip"))
        .collect::<Result<Vec<_>, _>>()?;
    let req = CreateEndpoint {
        service_id,
        service_name,
        vpc_id: vpc,
        zones,
        security_groups: p.list("SecurityGroupId"),
        ip_version: ip_version(p)?.unwrap_or(IpVersion::IPv4),
        zone_affinity: p.bool("ZoneAffinityEnabled")?.unwrap_or(false),
        name: p.opt("EndpointName").unwrap_or("").to_owned(),
        description: p.opt("EndpointDescription").unwrap_or("").to_owned(),
    };
    write(api, caller, "CreateVpcEndpoint", p, move |t, ctx| {
        let id = t.create_endpoint(ctx, req)?;
        let e = &t.endpoints[&id];
        let mut v = endpoint_json(ctx.inv, t, e);
        if let Value::Object(m) = &mut v {
            for k in [
                "EndpointType",
                "Payer",
                "ProtectedEnabled",
                "RegionId",
                "ResourceOwner",
                "ZonePrivateIpAddressCount",
            ] {
                m.remove(k);
            }
        }
        Ok(v)
    })
    .await
}

async fn update_endpoint(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("EndpointId")?.to_owned();
    let up = UpdateEndpoint {
        name: p.opt("EndpointName").map(str::to_owned),
        description: p.opt("EndpointDescription").map(str::to_owned),
        zone_affinity: p.bool("ZoneAffinityEnabled")?,
        ip_version: ip_version(p)?,
    };
    write(
        api,
        caller,
        "UpdateVpcEndpointAttribute",
        p,
        move |t, ctx| t.update_endpoint(ctx, &id, up).map(|()| empty()),
    )
    .await
}

async fn delete_endpoint(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("EndpointId")?.to_owned();
    write(api, caller, "DeleteVpcEndpoint", p, move |t, ctx| {
        t.delete_endpoint(ctx, &id).map(|()| empty())
    })
    .await
}

fn get_endpoint(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("EndpointId")?;
    let t = api.state.read();
    let e = t.owned_endpoint(caller, id)?;
    Ok(endpoint_json(api.state.inventory(), &t, e))
}

fn list_endpoints(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(1000)?;
    let f_id = p.opt("EndpointId");
    let f_name = p.opt("EndpointName");
    let f_vpc = p.opt("VpcId");
    let f_svc = p.opt("ServiceName");
    let f_status = p.opt("EndpointStatus");
    let f_conn = p.opt("ConnectionStatus");
    let f_type = p.opt("EndpointType");
    let f_ipv = ip_version(p)?;
    let inv = api.state.inventory();
    let t = api.state.read();
    let mut eps: Vec<&Endpoint> = t
        .endpoints
        .values()
        .filter(|e| e.owner == caller)
        .filter(|e| f_id.is_none_or(|x| e.id == x))
        .filter(|e| f_name.is_none_or(|x| e.name == x))
        .filter(|e| f_vpc.is_none_or(|x| e.vpc_id == x))
        .filter(|e| f_svc.is_none_or(|x| e.service_name == x))
        .filter(|e| f_status.is_none_or(|x| e.status.as_str() == x))
        .filter(|e| f_conn.is_none_or(|x| e.connection.as_str() == x))
        .filter(|_| f_type.is_none_or(|x| x == "Interface"))
        .filter(|e| f_ipv.is_none_or(|x| e.ip_version == x))
        .collect();
    eps.sort_by_key(|e| e.seq);
    let items = eps.into_iter().map(|e| endpoint_json(inv, &t, e)).collect();
    paged(items, "Endpoints", pg, Some(false))
}

async fn add_zone(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("EndpointId")?.to_owned();
    let z = zone_spec(p, "ip")?;
    write(api, caller, "AddZoneToVpcEndpoint", p, move |t, ctx| {
        t.add_zone(ctx, &id, z).map(|()| empty())
    })
    .await
}

async fn remove_zone(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let id = p.req("EndpointId")?.to_owned();
    let zone = p.req("ZoneId")?.to_owned();
    write(
        api,
        caller,
        "RemoveZoneFromVpcEndpoint",
        p,
        move |t, ctx| t.remove_zone(ctx, &id, &zone).map(|()| empty()),
    )
    .await
}

fn list_zones(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(1000)?;
    let id = p.req("EndpointId")?;
    let inv = api.state.inventory();
    let t = api.state.read();
    let e = t.owned_endpoint(caller, id)?;
    let items = e
        .zones
        .values()
        .map(|z| {
            json!({
                "EniId": z.eni.id,
                "EniIp": z.eni.ip.to_string(),
                "RegionId": inv.region,
                "VSwitchId": z.vswitch_id,
                "ZoneDomain": Table::zone_domain(inv, e, &z.zone),
                "ZoneId": z.zone,
                "ZoneIpv6Address": z.eni.ip6.map(|a| a.to_string()).unwrap_or_default(),
                "ZoneStatus": z.status.as_str(),
            })
        })
        .collect();
    paged(items, "Zones", pg, Some(false))
}

async fn sg_op(api: &Api, caller: Uid, p: &Params, attach: bool) -> Out {
    region(api, p, false)?;
    let id = p.req("EndpointId")?.to_owned();
    let sg = p.req("SecurityGroupId")?.to_owned();
    let action = if attach {
        "AttachSecurityGroupToVpcEndpoint"
    } else {
        "DetachSecurityGroupFromVpcEndpoint"
    };
    write(api, caller, action, p, move |t, ctx| {
        if attach {
            t.attach_security_group(ctx, &id, &sg)
        } else {
            t.detach_security_group(ctx, &id, &sg)
        }
        .map(|()| empty())
    })
    .await
}

fn list_sgs(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(50)?;
    let id = p.req("EndpointId")?;
    let t = api.state.read();
    let e = t.owned_endpoint(caller, id)?;
    let items = e
        .security_groups
        .iter()
        .map(|sg| json!({"SecurityGroupId": sg, "SecurityGroupStatus": "Attached"}))
        .collect();
    paged(items, "SecurityGroups", pg, Some(false))
}

// ------------------------------------------------------------------ connections

fn svc_ep(p: &Params) -> Result<(String, String), ApiError> {
    Ok((
        p.req("ServiceId")?.to_owned(),
        p.req("EndpointId")?.to_owned(),
    ))
}

async fn enable_connection(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let (svc, ep) = svc_ep(p)?;
    let bw = p.u32("Bandwidth")?;
    write(
        api,
        caller,
        "EnableVpcEndpointConnection",
        p,
        move |t, ctx| t.enable_connection(ctx, &svc, &ep, bw).map(|()| empty()),
    )
    .await
}

async fn disable_connection(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let (svc, ep) = svc_ep(p)?;
    write(
        api,
        caller,
        "DisableVpcEndpointConnection",
        p,
        move |t, ctx| t.disable_connection(ctx, &svc, &ep).map(|()| empty()),
    )
    .await
}

async fn update_connection(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let (svc, ep) = svc_ep(p)?;
    let bw = p.u32("Bandwidth")?;
    write(
        api,
        caller,
        "UpdateVpcEndpointConnectionAttribute",
        p,
        move |t, ctx| {
            match bw {
                Some(b) => t.update_connection(ctx, &svc, &ep, b),
                // Nothing to change; still authorise and report a missing connection.
                None => t.connection_exists(ctx, &svc, &ep),
            }
            .map(|()| empty())
        },
    )
    .await
}

fn list_connections(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let pg = p.paging(1000)?;
    let f_svc = p.opt("ServiceId");
    let f_ep = p.opt("EndpointId");
    let f_owner = p.i64("EndpointOwnerId")?;
    let f_status = p.opt("ConnectionStatus");
    let f_res = p.opt("ResourceId");
    let f_replaced = p.opt("ReplacedResourceId");
    let f_eni = p.opt("EniId");
    let inv = api.state.inventory();
    let t = api.state.read();
    if let Some(s) = f_svc {
        t.owned_service(caller, s)?;
    }
    let mut eps: Vec<&Endpoint> = t
        .endpoints
        .values()
        .filter(|e| {
            t.services
                .get(&e.service_id)
                .is_some_and(|s| s.owner == caller)
        })
        .filter(|e| e.connection != ConnectionStatus::ServiceDeleted)
        .filter(|e| f_svc.is_none_or(|x| e.service_id == x))
        .filter(|e| f_ep.is_none_or(|x| e.id == x))
        .filter(|e| f_owner.is_none_or(|x| e.owner == x))
        .filter(|e| f_status.is_none_or(|x| e.connection.as_str() == x))
        .filter(|e| {
            f_res.is_none_or(|x| {
                e.zones
                    .values()
                    .any(|z| z.resource_id.as_deref() == Some(x))
            })
        })
        .filter(|e| {
            f_replaced.is_none_or(|x| {
                e.zones
                    .values()
                    .any(|z| z.replaced.as_ref().is_some_and(|r| r.resource_id == x))
            })
        })
        .filter(|e| f_eni.is_none_or(|x| e.zones.values().any(|z| z.eni.id == x)))
        .collect();
    eps.sort_by_key(|e| e.seq);
    let items = eps
        .into_iter()
        .map(|e| connection_json(inv, &t, e))
        .collect();
    paged(items, "Connections", pg, Some(true))
}

async fn enable_zone(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let (svc, ep) = svc_ep(p)?;
    let zone = p.req("ZoneId")?.to_owned();
    write(
        api,
        caller,
        "EnableVpcEndpointZoneConnection",
        p,
        move |t, ctx| t.enable_zone(ctx, &svc, &ep, &zone).map(|()| empty()),
    )
    .await
}

async fn disable_zone(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let (svc, ep) = svc_ep(p)?;
    let zone = p.req("ZoneId")?.to_owned();
    let replaced = p.bool("ReplacedResource")?.unwrap_or(false);
    write(
        api,
        caller,
        "DisableVpcEndpointZoneConnection",
        p,
        move |t, ctx| {
            t.disable_zone(ctx, &svc, &ep, &zone, replaced)
                .map(|()| empty())
        },
    )
    .await
}

async fn update_zone_resource(api: &Api, caller: Uid, p: &Params) -> Out {
    region(api, p, false)?;
    let (svc, ep) = svc_ep(p)?;
    let zone = p.req("ZoneId")?.to_owned();
    if let Some(rt) = p.opt("ResourceType") {
        lb_type("ResourceType", rt)?;
    }
    let res = p.opt("ResourceId").map(str::to_owned);
    let allocation = match (p.opt("ResourceAllocateMode"), res) {
        (Some("Auto"), _) => Allocation::Auto,
        (Some("Manual") | None, Some(r)) => Allocation::Manual(r),
        (Some("Manual"), None) => return Err(ApiError::missing("ResourceId")),
        (None, None) => return Err(ApiError::missing("ResourceAllocateMode")),
        (Some(o), _) => {
            return Err(ApiError::illegal(
                "ResourceAllocateMode",
                format!("{o:?} is not Auto or Manual"),
            ));
        }
    };
    let replace = match p.opt("ResourceReplaceMode") {
        None => None,
        Some("Graceful") => Some(ReplaceMode::Graceful),
        Some("Force") => Some(ReplaceMode::Force),
        Some(o) => {
            return Err(ApiError::illegal(
                "ResourceReplaceMode",
                format!("{o:?} is not Graceful or Force"),
            ));
        }
    };
    write(
        api,
        caller,
        "UpdateVpcEndpointZoneConnectionResourceAttribute",
        p,
        move |t, ctx| {
            t.update_zone_resource(ctx, &svc, &ep, &zone, allocation, replace)
                .map(|()| empty())
        },
    )
    .await
}
