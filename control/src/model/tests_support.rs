//! Test support for the model: a world built on the example inventory, deterministic ids.

use super::*;
use crate::inventory::Inventory;

pub const PROVIDER: Uid = 1_111_111_111_111_111;
pub const C1: Uid = 2_222_222_222_222_222;
pub const C2: Uid = 3_333_333_333_333_333;

pub struct SeqIds(pub u32);
impl IdSource for SeqIds {
    fn fresh(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!("{prefix}{:020}", self.0)
    }
}

pub struct World {
    pub inv: Inventory,
    pub t: Table,
    pub ids: SeqIds,
}

impl World {
    pub fn new() -> Self {
        let inv = Inventory::parse(include_str!("../../examples/inventory.toml")).unwrap();
        Self {
            inv,
            t: Table::default(),
            ids: SeqIds(0),
        }
    }
    pub fn run<T>(
        &mut self,
        caller: Uid,
        f: impl FnOnce(&mut Table, &mut Ctx<'_>) -> Result<T, ModelError>,
    ) -> Result<T, ModelError> {
        self.run_dry(caller, false, f)
    }
    pub fn run_dry<T>(
        &mut self,
        caller: Uid,
        dry_run: bool,
        f: impl FnOnce(&mut Table, &mut Ctx<'_>) -> Result<T, ModelError>,
    ) -> Result<T, ModelError> {
        let mut ctx = Ctx {
            caller,
            now: "2026-12-04T00:00:00Z".into(),
            dry_run,
            inv: &self.inv,
            ids: &mut self.ids,
        };
        f(&mut self.t, &mut ctx)
    }
    pub fn service(&mut self, rtype: LbType, res: &[(&str, &str)], auto_accept: bool) -> String {
        let p = CreateService { resource_type: Some(rtype), ..service_req(res, auto_accept) };
        self.run(PROVIDER, |t, c| t.create_service(c, p)).unwrap()
    }
    pub fn nlb_service(&mut self, auto_accept: bool) -> String {
        self.service(
            LbType::Nlb,
            &[
                ("nlb-prov1", A),
                ("nlb-prov1", B),
                ("nlb-prov2", A),
                ("nlb-prov2", B),
            ],
            auto_accept,
        )
    }
    pub fn endpoint_req(svc: &str, zones: &[(&str, &str)]) -> CreateEndpoint {
        CreateEndpoint {
            service_id: Some(svc.into()),
            service_name: None,
            vpc_id: "vpc-consumer1".into(),
            zones: zones
                .iter()
                .map(|(z, v)| ZoneSpec {
                    zone: (*z).into(),
                    vswitch_id: (*v).into(),
                    ip: None,
                    ip6: None,
                })
                .collect(),
            security_groups: vec!["sg-c1all".into()],
            ip_version: IpVersion::IPv4,
            zone_affinity: false,
            name: "ep".into(),
            description: String::new(),
        }
    }
    pub fn endpoint(&mut self, svc: &str) -> Result<String, ModelError> {
        let req = Self::endpoint_req(svc, &[(A, "vsw-c1a"), (B, "vsw-c1b")]);
        self.run(C1, |t, c| t.create_endpoint(c, req))
    }
    pub fn whitelist(&mut self, svc: &str, who: Principal) {
        self.run(PROVIDER, |t, c| t.add_user(c, svc, who)).unwrap();
    }
    pub fn ep(&self, id: &str) -> &Endpoint {
        &self.t.endpoints[id]
    }
}

pub const A: &str = "cn-hangzhou-a";
pub const B: &str = "cn-hangzhou-b";

/// A CreateVpcEndpointService request for `(resource, zone)` pairs.
pub fn service_req(res: &[(&str, &str)], auto_accept: bool) -> CreateService {
    CreateService {
        resource_type: None,
        resources: res
            .iter()
            .map(|(id, z)| ResourceSpec { id: (*id).into(), resource_type: None, zone: (*z).into() })
            .collect(),
        auto_accept,
        zone_affinity: false,
        ip_version: IpVersion::IPv4,
        payer: Payer::Endpoint,
        description: String::new(),
    }
}

/// Through a running `State`: the provider creates `service`, whitelists consumer 1, who
/// creates `endpoint`; returns the endpoint id.
pub fn seed_state(st: &crate::state::State, service: CreateService, endpoint: CreateEndpoint) -> String {
    let v = st
        .write_blocking(crate::state::Command {
            caller: PROVIDER,
            dry_run: false,
            token: None,
            apply: Box::new(move |t, ctx| {
                let svc = t.create_service(ctx, service)?;
                t.add_user(ctx, &svc, Principal::Account(C1))?;
                ctx.caller = C1;
                let ep = t.create_endpoint(ctx, CreateEndpoint { service_id: Some(svc), ..endpoint })?;
                Ok(serde_json::json!(ep))
            }),
        })
        .unwrap();
    v.as_str().unwrap().to_owned()
}

pub fn code<T: std::fmt::Debug>(r: Result<T, ModelError>) -> String {
    r.unwrap_err().code()
}

/// A service (NLB, both zones, zone affinity as given) and consumer1's two-zone endpoint.
pub fn two_zone_endpoint(affinity: bool) -> (World, String, String) {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    if affinity {
        let up = UpdateService {
            zone_affinity: Some(true),
            ..Default::default()
        };
        w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))
            .unwrap();
    }
    w.whitelist(&svc, Principal::Account(C1));
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a"), (B, "vsw-c1b")]);
    req.zone_affinity = affinity;
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    (w, svc, ep)
}
