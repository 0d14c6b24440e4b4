//! Rule-by-rule tests of the domain model against the example inventory.

use super::tests_support::*;
use super::*;

// ------------------------------------------------------------------ R2–R7 services

#[test]
fn r2_all_resources_share_the_service_type() {
    let mut w = World::new();
    let p = CreateService {
        resource_type: Some(LbType::Nlb),
        resources: vec![ResourceSpec {
            id: "alb-prov1".into(),
            resource_type: None,
            zone: A.into(),
        }],
        auto_accept: true,
        zone_affinity: false,
        ip_version: IpVersion::IPv4,
        payer: Payer::Endpoint,
        description: String::new(),
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.create_service(c, p))),
        "Mismatch.ResourceType"
    );
    let svc = w.nlb_service(true);
    let r = ResourceSpec {
        id: "lb-prov1".into(),
        resource_type: None,
        zone: A.into(),
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.attach_resource(c, &svc, r))),
        "Mismatch.ResourceType"
    );
}

#[test]
fn r3_service_gets_id_name_and_defaults() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    let s = &w.t.services[&svc];
    assert!(svc.starts_with("epsrv-") && svc.len() == 26);
    assert_eq!(
        s.name,
        format!("com.aliyuncs.privatelink.cn-hangzhou.{svc}")
    );
    assert_eq!(s.status, ServiceStatus::Active);
    assert_eq!(s.payer, Payer::Endpoint);
    assert_eq!(s.zones().len(), 2);
}

#[test]
fn r3_attaching_another_accounts_lb_is_forbidden() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    let r = ResourceSpec {
        id: "nlb-c1own".into(),
        resource_type: None,
        zone: A.into(),
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.attach_resource(c, &svc, r))),
        "Forbidden"
    );
}

#[test]
fn r4_dual_stack_needs_every_resource_dual_stack() {
    let mut w = World::new();
    let mk = |res: &str| CreateService {
        resource_type: Some(LbType::Nlb),
        resources: vec![ResourceSpec {
            id: res.into(),
            resource_type: None,
            zone: A.into(),
        }],
        auto_accept: true,
        zone_affinity: false,
        ip_version: IpVersion::DualStack,
        payer: Payer::Endpoint,
        description: String::new(),
    };
    let svc = w
        .run(PROVIDER, |t, c| t.create_service(c, mk("nlb-prov1")))
        .unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.create_service(c, mk("nlb-prov2")))),
        "IllegalParam.AddressIpVersion"
    );
    // and a dual-stack service refuses a later single-stack resource
    let r = ResourceSpec {
        id: "nlb-prov2".into(),
        resource_type: None,
        zone: B.into(),
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.attach_resource(c, &svc, r))),
        "IllegalParam.AddressIpVersion"
    );
}

#[test]
fn r4_clb_never_dual_stack() {
    let mut w = World::new();
    let p = CreateService {
        resource_type: Some(LbType::Clb),
        resources: vec![ResourceSpec {
            id: "lb-prov1".into(),
            resource_type: None,
            zone: A.into(),
        }],
        auto_accept: true,
        zone_affinity: false,
        ip_version: IpVersion::DualStack,
        payer: Payer::Endpoint,
        description: String::new(),
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.create_service(c, p))),
        "IllegalParam.AddressIpVersion"
    );
    let svc = w.service(LbType::Clb, &[("lb-prov1", A)], true);
    let up = UpdateService {
        ip_version: Some(IpVersion::DualStack),
        ..Default::default()
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))),
        "IllegalParam.AddressIpVersion"
    );
}

#[test]
fn r5_payer_cannot_change() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    let up = UpdateService {
        payer: Some(Payer::EndpointService),
        ..Default::default()
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))),
        "IllegalParam.Payer"
    );
    let same = UpdateService {
        payer: Some(Payer::Endpoint),
        ..Default::default()
    };
    assert!(
        w.run(PROVIDER, |t, c| t.update_service(c, &svc, same))
            .is_ok()
    );
}

#[test]
fn r6_changing_auto_accept_keeps_existing_connections() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    let up = UpdateService {
        auto_accept: Some(true),
        ..Default::default()
    };
    w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))
        .unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Disconnected);
    let ep2 = w.endpoint(&svc).unwrap();
    assert_eq!(w.ep(&ep2).connection, ConnectionStatus::Connected);
}

#[test]
fn r7_owner_is_whitelisted_on_creation() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    assert!(
        w.t.services[&svc]
            .users
            .contains(&Principal::Account(PROVIDER))
    );
}

// ------------------------------------------------------------------ R8 whitelist

#[test]
fn r8_not_whitelisted_consumer_cannot_connect() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    assert_eq!(code(w.endpoint(&svc)), "EndpointServiceNotAuthorized");
    w.whitelist(&svc, Principal::Account(C1));
    assert!(w.endpoint(&svc).is_ok());
}

#[test]
fn r8_star_admits_every_account() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::All);
    assert!(w.t.services[&svc].visible_to(C2));
    assert!(w.endpoint(&svc).is_ok());
}

#[test]
fn r8_consumer_cannot_change_a_service_it_sees() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    assert_eq!(
        code(w.run(C1, |t, c| t.update_service(
            c,
            &svc,
            UpdateService::default()
        ))),
        "EndpointServiceNotFound"
    );
    w.whitelist(&svc, Principal::Account(C1));
    assert_eq!(
        code(w.run(C1, |t, c| t.update_service(
            c,
            &svc,
            UpdateService::default()
        ))),
        "Forbidden"
    );
}

#[test]
fn r8_whitelist_takes_any_positive_uid() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    assert!(
        w.run(PROVIDER, |t, c| t.add_user(c, &svc, Principal::Account(42)))
            .is_ok()
    );
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.add_user(c, &svc, Principal::Account(-1)))),
        "IllegalParam.UserId"
    );
}

#[test]
fn r8_removing_a_user_keeps_its_connection_but_blocks_new_ones() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    w.run(PROVIDER, |t, c| {
        t.remove_user(c, &svc, Principal::Account(C1))
    })
    .unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Connected);
    assert_eq!(code(w.endpoint(&svc)), "EndpointServiceNotAuthorized");
}

// ------------------------------------------------------------------ R10–R14 endpoints

#[test]
fn r10_service_name_is_verified() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    req.service_name = Some("com.aliyuncs.privatelink.cn-hangzhou.epsrv-wrong".into());
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "Mismatch.ServiceName"
    );
    let mut by_name = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    by_name.service_id = None;
    by_name.service_name = Some(w.t.services[&svc].name.clone());
    assert!(w.run(C1, |t, c| t.create_endpoint(c, by_name)).is_ok());
}

#[test]
fn r10_zone_must_be_a_service_zone_with_a_vswitch_of_the_vpc() {
    let mut w = World::new();
    let svc = w.service(LbType::Clb, &[("lb-prov2", A)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(B, "vsw-c1b")]);
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "Mismatch.ZoneId"
    );
    let req = World::endpoint_req(&svc, &[(A, "vsw-c2a")]);
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "Mismatch.VpcId"
    );
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1b")]);
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "Mismatch.ZoneId"
    );
}

#[test]
fn r10_endpoint_in_another_accounts_vpc_is_forbidden() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::All);
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    assert_eq!(
        code(w.run(C2, |t, c| t.create_endpoint(c, req))),
        "Forbidden"
    );
}

#[test]
fn r11_requested_addresses_are_checked_and_assigned() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let mut outside = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    outside.zones[0].ip = Some("10.0.0.1".parse().unwrap());
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, outside))),
        "IllegalParam.Ip"
    );
    for bad in [
        "192.168.1.0",
        "192.168.1.253",
        "192.168.1.254",
        "192.168.1.255",
    ] {
        let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
        req.zones[0].ip = Some(bad.parse().unwrap());
        assert_eq!(
            code(w.run(C1, |t, c| t.create_endpoint(c, req))),
            "EniIpUnavailable",
            "{bad}"
        );
    }
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    req.zones[0].ip = Some("192.168.1.50".parse().unwrap());
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req.clone())).unwrap();
    assert_eq!(w.ep(&ep).zones[A].eni.ip.to_string(), "192.168.1.50");
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "EniIpUnavailable"
    );
    let auto = w.endpoint(&svc).unwrap();
    assert_eq!(w.ep(&auto).zones[A].eni.ip.to_string(), "192.168.1.1");
}

#[test]
fn r11_overlapping_vpcs_may_use_the_same_address() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::All);
    let a = w.endpoint(&svc).unwrap();
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c2a")]);
    req.vpc_id = "vpc-consumer2".into();
    req.security_groups = vec!["sg-c2all".into()];
    let b = w.run(C2, |t, c| t.create_endpoint(c, req)).unwrap();
    assert_eq!(w.ep(&a).zones[A].eni.ip, w.ep(&b).zones[A].eni.ip);
}

#[test]
fn r11_exhausted_vswitch_is_refused_and_nothing_changes() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    for _ in 0..4 {
        let req = World::endpoint_req(&svc, &[(A, "vsw-c1tiny")]);
        w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    }
    let before = w.t.clone();
    let req = World::endpoint_req(&svc, &[(B, "vsw-c1b"), (A, "vsw-c1tiny")]);
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "ResourceNotEnough.VSwitchIp"
    );
    assert_eq!(w.t.endpoints, before.endpoints);
}

#[test]
fn r12_dual_stack_endpoint_needs_dual_stack_service_and_gets_ipv6() {
    let mut w = World::new();
    let svc = w.service(LbType::Nlb, &[("nlb-prov2", A)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    req.ip_version = IpVersion::DualStack;
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req.clone()))),
        "IllegalParam.AddressIpVersion"
    );
    let p = CreateService {
        resource_type: Some(LbType::Nlb),
        resources: vec![ResourceSpec {
            id: "nlb-prov1".into(),
            resource_type: None,
            zone: A.into(),
        }],
        auto_accept: true,
        zone_affinity: false,
        ip_version: IpVersion::DualStack,
        payer: Payer::Endpoint,
        description: String::new(),
    };
    let ds = w.run(PROVIDER, |t, c| t.create_service(c, p)).unwrap();
    w.whitelist(&ds, Principal::Account(C1));
    req.service_id = Some(ds);
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req.clone())).unwrap();
    assert!(w.ep(&ep).zones[A].eni.ip6.is_some());
    req.zones[0].vswitch_id = "vsw-c1tiny".into(); // no IPv6 block
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "IllegalParam.VSwitchId"
    );
}

#[test]
fn r13_security_groups_must_be_own_and_in_the_vpc() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    req.security_groups = vec!["sg-c2all".into()];
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req))),
        "Forbidden"
    );
    let ep = w.endpoint(&svc).unwrap();
    w.run(C1, |t, c| t.attach_security_group(c, &ep, "sg-c1web"))
        .unwrap();
    assert_eq!(w.ep(&ep).security_groups, vec!["sg-c1all", "sg-c1web"]);
    w.run(C1, |t, c| t.detach_security_group(c, &ep, "sg-c1all"))
        .unwrap();
    assert_eq!(
        code(w.run(C1, |t, c| t.detach_security_group(c, &ep, "sg-c1web"))),
        "EndpointDependenceViolation"
    );
}

#[test]
fn r14_zone_affinity_needs_the_service_to_have_it() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    req.zone_affinity = true;
    assert_eq!(
        code(w.run(C1, |t, c| t.create_endpoint(c, req.clone()))),
        "IllegalParam.ZoneAffinityEnabled"
    );
    let up = UpdateService {
        zone_affinity: Some(true),
        ..Default::default()
    };
    w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))
        .unwrap();
    assert!(w.run(C1, |t, c| t.create_endpoint(c, req)).is_ok());
}

// ------------------------------------------------------------------ R15–R17 acceptance

#[test]
fn r16_auto_accept_connects_at_once_with_allocations() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    let e = w.ep(&ep);
    assert_eq!(e.connection, ConnectionStatus::Connected);
    assert!(
        e.zones
            .values()
            .all(|z| z.status == ZoneStatus::Connected && z.resource_id.is_some())
    );
}

#[test]
fn r16_manual_accept_waits_then_enable_disable_reenable() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Disconnected);
    assert!(
        w.ep(&ep)
            .zones
            .values()
            .all(|z| z.status == ZoneStatus::Wait && z.resource_id.is_none())
    );
    w.run(PROVIDER, |t, c| {
        t.enable_connection(c, &svc, &ep, Some(1000))
    })
    .unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Connected);
    assert_eq!(w.ep(&ep).bandwidth, Some(1000));
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.enable_connection(c, &svc, &ep, None))),
        "IncorrectStatus.EndpointConnection"
    );
    w.run(PROVIDER, |t, c| t.disable_connection(c, &svc, &ep))
        .unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Disconnected);
    assert!(
        w.ep(&ep)
            .zones
            .values()
            .all(|z| z.status == ZoneStatus::Disconnected && z.resource_id.is_none())
    );
    w.run(PROVIDER, |t, c| t.enable_connection(c, &svc, &ep, None))
        .unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Connected);
}

#[test]
fn r16_provider_can_reject_a_waiting_connection() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    w.run(PROVIDER, |t, c| t.disable_connection(c, &svc, &ep))
        .unwrap();
    assert!(
        w.ep(&ep)
            .zones
            .values()
            .all(|z| z.status == ZoneStatus::Disconnected)
    );
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.disable_connection(c, &svc, &ep))),
        "IncorrectStatus.EndpointConnection"
    );
}

#[test]
fn r15_consumer_cannot_accept_its_own_connection() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(
        code(w.run(C1, |t, c| t.enable_connection(c, &svc, &ep, None))),
        "Forbidden"
    );
    let view = dataplane_view(&w.t, &w.inv);
    assert!(view.iter().all(|z| !z.forwarding));
}

#[test]
fn r15_connection_of_another_service_is_not_found() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    let other = w.service(LbType::Clb, &[("lb-prov1", A)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.disable_connection(c, &other, &ep))),
        "EndpointConnectionNotFound"
    );
}

// ------------------------------------------------------------------ R21–R26 allocation

#[test]
fn r21_r23_auto_allocation_spreads_by_load_relative_to_capacity() {
    let mut w = World::new();
    // nlb-prov1: 10000 Mbps, nlb-prov2: 5000 Mbps -> 2:1 split
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    for _ in 0..6 {
        let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
        w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    }
    let load = w.t.resource_load(&svc, A);
    assert_eq!(load["nlb-prov1"].0, 4);
    assert_eq!(load["nlb-prov2"].0, 2);
}

#[test]
fn r21_each_zone_connection_uses_one_resource_of_its_zone() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    for z in w.ep(&ep).zones.values() {
        let r = z.resource_id.as_ref().unwrap();
        assert!(
            w.t.services[&svc]
                .resources
                .contains_key(&(z.zone.clone(), r.clone()))
        );
    }
}

#[test]
fn r22_last_auto_allocatable_resource_of_a_zone_stays_on() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.run(PROVIDER, |t, c| {
        t.update_resource(c, &svc, "nlb-prov1", A, false)
    })
    .unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.update_resource(
            c,
            &svc,
            "nlb-prov2",
            A,
            false
        ))),
        "ResourceAutoAllocateViolation"
    );
    // zone B is independent
    w.run(PROVIDER, |t, c| {
        t.update_resource(c, &svc, "nlb-prov2", B, false)
    })
    .unwrap();
    // detaching the only auto one while a manual one remains is refused too
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, "nlb-prov2", A))),
        "ResourceAutoAllocateViolation"
    );
}

#[test]
fn r22_manual_only_resources_are_not_auto_allocated_and_changes_keep_connections() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let first = w.endpoint(&svc).unwrap();
    let before = w.ep(&first).zones[A].resource_id.clone().unwrap();
    w.run(PROVIDER, |t, c| {
        t.update_resource(c, &svc, &before, A, false)
    })
    .unwrap();
    assert_eq!(w.ep(&first).zones[A].resource_id.as_ref(), Some(&before));
    for _ in 0..3 {
        let ep = w.endpoint(&svc).unwrap();
        assert_ne!(w.ep(&ep).zones[A].resource_id.as_ref(), Some(&before));
    }
}

#[test]
fn r24_failed_resource_moves_zone_connections_within_the_zone() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    let old = w.ep(&ep).zones[A].resource_id.clone().unwrap();
    let moved = w.t.set_resource_health(&w.inv, &svc, A, &old, false);
    assert_eq!(moved, vec![ep.clone()]);
    let new = w.ep(&ep).zones[A].resource_id.clone().unwrap();
    assert_ne!(new, old);
    assert!(
        w.t.services[&svc]
            .resources
            .contains_key(&(A.to_owned(), new))
    );
}

#[test]
fn r24_with_every_resource_down_connections_stay_and_new_ones_still_allocate() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    let inv = w.inv.clone();
    let before = w.ep(&ep).zones[A].resource_id.clone().unwrap();
    let other = if before == "nlb-prov1" { "nlb-prov2" } else { "nlb-prov1" };
    for r in [other, before.as_str()] {
        w.t.set_resource_health(&inv, &svc, A, r, false);
    }
    let before = Some(before);
    assert_eq!(
        w.ep(&ep).zones[A].resource_id,
        before,
        "no healthy resource to move to"
    );
    let again = w.endpoint(&svc).unwrap();
    assert!(
        w.ep(&again).zones[A].resource_id.is_some(),
        "allocation fails open"
    );
    // once one recovers, new connections prefer it
    w.t.set_resource_health(&inv, &svc, A, "nlb-prov2", true);
    let third = w.endpoint(&svc).unwrap();
    assert_eq!(
        w.ep(&third).zones[A].resource_id.as_deref(),
        Some("nlb-prov2")
    );
}

#[test]
fn r25_reallocate_manual_then_auto() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    let manual = Allocation::Manual("nlb-prov2".into());
    // connected: must disconnect first
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.update_zone_resource(
            c,
            &svc,
            &ep,
            A,
            manual.clone(),
            None
        ))),
        "IncorrectStatus.EndpointZone"
    );
    w.run(PROVIDER, |t, c| t.disable_zone(c, &svc, &ep, A, false))
        .unwrap();
    assert_eq!(w.ep(&ep).zones[A].status, ZoneStatus::Disconnected);
    assert_eq!(w.ep(&ep).zones[A].resource_id, None);
    w.run(PROVIDER, |t, c| {
        t.update_zone_resource(c, &svc, &ep, A, manual.clone(), None)
    })
    .unwrap();
    w.run(PROVIDER, |t, c| t.enable_zone(c, &svc, &ep, A))
        .unwrap();
    assert_eq!(w.ep(&ep).zones[A].resource_id.as_deref(), Some("nlb-prov2"));
    // Auto clears the manual choice
    w.run(PROVIDER, |t, c| t.disable_zone(c, &svc, &ep, A, false))
        .unwrap();
    w.run(PROVIDER, |t, c| {
        t.update_zone_resource(c, &svc, &ep, A, Allocation::Auto, None)
    })
    .unwrap();
    assert_eq!(w.ep(&ep).zones[A].allocation, Allocation::Auto);
    w.run(PROVIDER, |t, c| t.enable_zone(c, &svc, &ep, A))
        .unwrap();
    assert_eq!(w.ep(&ep).zones[A].status, ZoneStatus::Connected);
}

#[test]
fn r25_manual_allocation_before_allowing() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    w.run(PROVIDER, |t, c| {
        t.update_zone_resource(
            c,
            &svc,
            &ep,
            B,
            Allocation::Manual("nlb-prov2".into()),
            None,
        )
    })
    .unwrap();
    w.run(PROVIDER, |t, c| t.enable_connection(c, &svc, &ep, None))
        .unwrap();
    assert_eq!(w.ep(&ep).zones[B].resource_id.as_deref(), Some("nlb-prov2"));
    let bad = Allocation::Manual("nlb-nope".into());
    assert_eq!(
        code(w.run(PROVIDER, |t, c| {
            t.update_zone_resource(c, &svc, &ep, B, bad, None)
        })),
        "ResourceNotFound.Resource"
    );
}

#[test]
fn r25_enable_zone_needs_an_accepted_connection() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.enable_zone(c, &svc, &ep, A))),
        "IncorrectStatus.EndpointConnection"
    );
}

#[test]
fn r26_allocated_resource_cannot_detach() {
    let mut w = World::new();
    let svc = w.service(LbType::Nlb, &[("nlb-prov1", A)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, "nlb-prov1", A))),
        "EndpointServiceConnectionDependence"
    );
    w.run(PROVIDER, |t, c| t.disable_zone(c, &svc, &ep, A, false))
        .unwrap();
    w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, "nlb-prov1", A))
        .unwrap();
    // detaching never deletes the LB: it can be attached again
    let r = ResourceSpec {
        id: "nlb-prov1".into(),
        resource_type: None,
        zone: A.into(),
    };
    w.run(PROVIDER, |t, c| t.attach_resource(c, &svc, r))
        .unwrap();
}

#[test]
fn r26_attaching_twice_is_refused_in_this_or_another_service() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    let r = ResourceSpec {
        id: "nlb-prov1".into(),
        resource_type: None,
        zone: A.into(),
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.attach_resource(c, &svc, r.clone()))),
        "EndpointServiceResourceExist"
    );
    let other = w.service(LbType::Nlb, &[], true);
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.attach_resource(c, &other, r))),
        "EndpointServiceResourceExist"
    );
}

#[test]
fn r31_clb_default_is_taken_when_a_manual_connection_is_accepted() {
    let mut w = World::new();
    let svc = w.service(LbType::Clb, &[("lb-prov1", A)], false);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    assert_eq!(w.ep(&ep).bandwidth, None);
    let up = UpdateService {
        connect_bandwidth: Some(4000),
        ..Default::default()
    };
    w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))
        .unwrap();
    w.run(PROVIDER, |t, c| t.enable_connection(c, &svc, &ep, None))
        .unwrap();
    assert_eq!(w.ep(&ep).bandwidth, Some(4000));
}

// ------------------------------------------------------------------ R27–R29 migration

fn clb_migration_world() -> (World, String, String, String) {
    let mut w = World::new();
    let svc = w.service(LbType::Clb, &[("lb-prov2", A), ("lb-prov3", A)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    let old = w.ep(&ep).zones[A].resource_id.clone().unwrap();
    (w, svc, ep, old)
}

#[test]
fn r27_replacement_needs_auto_allocate_off() {
    let (mut w, svc, ep, old) = clb_migration_world();
    let new = if old == "lb-prov2" {
        "lb-prov3"
    } else {
        "lb-prov2"
    };
    let m = Allocation::Manual(new.into());
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.update_zone_resource(
            c,
            &svc,
            &ep,
            A,
            m,
            Some(ReplaceMode::Graceful)
        ))),
        "ResourceAutoAllocateViolation"
    );
}

#[test]
fn r28_smooth_migration_adds_an_eni_and_drains_the_old_one() {
    let (mut w, svc, ep, old) = clb_migration_world();
    let new = if old == "lb-prov2" {
        "lb-prov3"
    } else {
        "lb-prov2"
    };
    w.run(PROVIDER, |t, c| t.update_resource(c, &svc, &old, A, false))
        .unwrap();
    let old_eni = w.ep(&ep).zones[A].eni.clone();
    let m = Allocation::Manual(new.into());
    w.run(PROVIDER, |t, c| {
        t.update_zone_resource(c, &svc, &ep, A, m, Some(ReplaceMode::Graceful))
    })
    .unwrap();
    let z = &w.ep(&ep).zones[A];
    assert_eq!(z.status, ZoneStatus::Migrating);
    assert_eq!(z.resource_id.as_deref(), Some(new));
    assert_ne!(z.eni.id, old_eni.id);
    assert_ne!(z.eni.ip, old_eni.ip);
    assert_eq!(z.replaced.as_ref().unwrap().eni, old_eni);
    let view = dataplane_view(&w.t, &w.inv);
    assert_eq!(view.len(), 2);
    assert!(view.iter().any(|v| v.draining
        && v.eni_id == old_eni.id
        && v.resource_id.as_deref() == Some(old.as_str())
        && v.forwarding));
    // the old resource is still in use: cannot detach
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, &old, A))),
        "EndpointServiceConnectionDependence"
    );
    // provider drops the old path
    w.run(PROVIDER, |t, c| t.disable_zone(c, &svc, &ep, A, true))
        .unwrap();
    let z = &w.ep(&ep).zones[A];
    assert_eq!(z.status, ZoneStatus::Connected);
    assert!(z.replaced.is_none());
    assert_eq!(dataplane_view(&w.t, &w.inv).len(), 1);
    w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, &old, A))
        .unwrap();
}

#[test]
fn r29_forced_migration_switches_at_once() {
    let (mut w, svc, ep, old) = clb_migration_world();
    let new = if old == "lb-prov2" {
        "lb-prov3"
    } else {
        "lb-prov2"
    };
    w.run(PROVIDER, |t, c| t.update_resource(c, &svc, &old, A, false))
        .unwrap();
    let eni = w.ep(&ep).zones[A].eni.clone();
    let m = Allocation::Manual(new.into());
    w.run(PROVIDER, |t, c| {
        t.update_zone_resource(c, &svc, &ep, A, m, Some(ReplaceMode::Force))
    })
    .unwrap();
    let z = &w.ep(&ep).zones[A];
    assert_eq!(z.status, ZoneStatus::Connected);
    assert_eq!(z.resource_id.as_deref(), Some(new));
    assert_eq!(z.eni, eni);
    assert!(z.replaced.is_none());
    w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, &old, A))
        .unwrap();
}

#[test]
fn r28_dropping_replaced_path_without_migration_is_refused() {
    let (mut w, svc, ep, _) = clb_migration_world();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.disable_zone(c, &svc, &ep, A, true))),
        "IncorrectStatus.EndpointZone"
    );
}

// ------------------------------------------------------------------ R30–R32 bandwidth

#[test]
fn r30_every_zone_eni_inherits_the_connection_limit() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert!(
        dataplane_view(&w.t, &w.inv)
            .iter()
            .all(|v| v.bandwidth_mbps.is_none())
    );
    w.run(PROVIDER, |t, c| t.update_connection(c, &svc, &ep, 2000))
        .unwrap();
    let view = dataplane_view(&w.t, &w.inv);
    assert_eq!(view.len(), 2);
    assert!(view.iter().all(|v| v.bandwidth_mbps == Some(2000)));
}

#[test]
fn r31_clb_default_applies_and_changes_only_new_connections() {
    let mut w = World::new();
    let svc = w.service(LbType::Clb, &[("lb-prov1", A), ("lb-prov1", B)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let first = w.endpoint(&svc).unwrap();
    assert_eq!(w.ep(&first).bandwidth, Some(3072));
    for bad in [99, 10241] {
        let up = UpdateService {
            connect_bandwidth: Some(bad),
            ..Default::default()
        };
        assert_eq!(
            code(w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))),
            "IllegalParam.ConnectBandwidth"
        );
    }
    let up = UpdateService {
        connect_bandwidth: Some(5000),
        ..Default::default()
    };
    w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))
        .unwrap();
    let second = w.endpoint(&svc).unwrap();
    assert_eq!(w.ep(&first).bandwidth, Some(3072));
    assert_eq!(w.ep(&second).bandwidth, Some(5000));
}

#[test]
fn r31_nlb_has_no_default_limit() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    let up = UpdateService {
        connect_bandwidth: Some(1000),
        ..Default::default()
    };
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.update_service(c, &svc, up))),
        "IllegalParam.ConnectBandwidth"
    );
}

#[test]
fn r32_bandwidth_ranges_per_type() {
    let mut w = World::new();
    let nlb = w.nlb_service(true);
    let clb = w.service(LbType::Clb, &[("lb-prov1", A)], true);
    w.whitelist(&nlb, Principal::Account(C1));
    w.whitelist(&clb, Principal::Account(C1));
    let e1 = w.endpoint(&nlb).unwrap();
    let req = World::endpoint_req(&clb, &[(A, "vsw-c1a")]);
    let e2 = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    for (svc, ep, ok, bad) in [
        (&nlb, &e1, [100, 25600], [99, 25601]),
        (&clb, &e2, [100, 10240], [99, 10241]),
    ] {
        for b in ok {
            assert!(
                w.run(PROVIDER, |t, c| t.update_connection(c, svc, ep, b))
                    .is_ok(),
                "{b}"
            );
        }
        for b in bad {
            assert_eq!(
                code(w.run(PROVIDER, |t, c| t.update_connection(c, svc, ep, b))),
                "IllegalParam.Bandwidth",
                "{b}"
            );
        }
    }
}

// ------------------------------------------------------------------ R33 deletion order

#[test]
fn r33_delete_order_connections_then_resources_then_service() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.delete_service(c, &svc))),
        "EndpointServiceConnectionDependence"
    );
    w.run(PROVIDER, |t, c| t.disable_connection(c, &svc, &ep))
        .unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.delete_service(c, &svc))),
        "EndpointServiceDependenceViolation"
    );
    for (r, z) in [
        ("nlb-prov1", A),
        ("nlb-prov1", B),
        ("nlb-prov2", A),
        ("nlb-prov2", B),
    ] {
        w.run(PROVIDER, |t, c| t.detach_resource(c, &svc, r, z))
            .unwrap();
    }
    w.run(PROVIDER, |t, c| t.delete_service(c, &svc)).unwrap();
    assert!(!w.t.services.contains_key(&svc));
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::ServiceDeleted);
    w.run(C1, |t, c| t.delete_endpoint(c, &ep)).unwrap();
    assert!(w.t.endpoints.is_empty());
}

#[test]
fn r33_zone_disconnect_counts_as_disconnected() {
    let mut w = World::new();
    let svc = w.service(LbType::Nlb, &[("nlb-prov1", A)], false);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    // a waiting connection does not block deletion; only resources do
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.delete_service(c, &svc))),
        "EndpointServiceDependenceViolation"
    );
    w.run(PROVIDER, |t, c| t.enable_connection(c, &svc, &ep, None))
        .unwrap();
    assert_eq!(
        code(w.run(PROVIDER, |t, c| t.delete_service(c, &svc))),
        "EndpointServiceConnectionDependence"
    );
}

// ------------------------------------------------------------------ cross-cutting

#[test]
fn dry_run_changes_nothing() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let before = w.t.clone();
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    assert_eq!(
        code(w.run_dry(C1, true, |t, c| t.create_endpoint(c, req))),
        "DryRunOperation"
    );
    assert_eq!(
        code(w.run_dry(PROVIDER, true, |t, c| t.delete_service(c, &svc))),
        "EndpointServiceDependenceViolation"
    );
    assert_eq!(w.t, before);
}

#[test]
fn consumer_never_touches_another_accounts_endpoint() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::All);
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(
        code(w.run(C2, |t, c| t.delete_endpoint(c, &ep))),
        "Forbidden"
    );
    assert_eq!(
        code(w.run(C2, |t, c| t.remove_zone(c, &ep, A))),
        "Forbidden"
    );
    assert!(w.t.endpoints.contains_key(&ep));
}

#[test]
fn eni_indexes_are_unique_and_never_reused() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let a = w.endpoint(&svc).unwrap();
    w.run(C1, |t, c| t.delete_endpoint(c, &a)).unwrap();
    let b = w.endpoint(&svc).unwrap();
    let idx: Vec<u32> = w.ep(&b).zones.values().map(|z| z.eni.index).collect();
    assert_eq!(idx, vec![2, 3]);
}

#[test]
fn add_and_remove_zone() {
    let mut w = World::new();
    let svc = w.nlb_service(true);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    let ep = w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    let z = ZoneSpec {
        zone: B.into(),
        vswitch_id: "vsw-c1b".into(),
        ip: Some("192.168.2.9".parse().unwrap()),
        ip6: None,
    };
    w.run(C1, |t, c| t.add_zone(c, &ep, z)).unwrap();
    assert_eq!(w.ep(&ep).zones[B].status, ZoneStatus::Connected);
    w.run(C1, |t, c| t.remove_zone(c, &ep, A)).unwrap();
    assert_eq!(
        code(w.run(C1, |t, c| t.remove_zone(c, &ep, B))),
        "EndpointDependenceViolation"
    );
}

#[test]
fn dataplane_view_carries_vip_snat_and_interfaces() {
    let mut w = World::new();
    let svc = w.service(LbType::Nlb, &[("nlb-prov2", A)], true);
    w.whitelist(&svc, Principal::Account(C1));
    let req = World::endpoint_req(&svc, &[(A, "vsw-c1a")]);
    w.run(C1, |t, c| t.create_endpoint(c, req)).unwrap();
    let v = &dataplane_view(&w.t, &w.inv)[0];
    assert_eq!(v.vip.unwrap().to_string(), "10.0.1.101");
    assert_eq!(v.vpc_interface, "gw-c1");
    assert_eq!(v.provider_interface, "gwa-prov");
    assert_eq!(v.snat_pool.len(), 2);
    assert!(v.forwarding && !v.draining);
}

#[test]
fn derived_index_matches_a_rebuild_after_changes() {
    let (mut w, svc, ep, old) = clb_migration_world();
    let check = |t: &Table| {
        let mut fresh = t.clone();
        fresh.rebuild_index();
        assert_eq!(fresh.index, t.index);
    };
    check(&w.t);
    let new = if old == "lb-prov2" {
        "lb-prov3"
    } else {
        "lb-prov2"
    };
    w.run(PROVIDER, |t, c| t.update_resource(c, &svc, &old, A, false))
        .unwrap();
    w.run(PROVIDER, |t, c| {
        t.update_zone_resource(
            c,
            &svc,
            &ep,
            A,
            Allocation::Manual(new.into()),
            Some(ReplaceMode::Graceful),
        )
    })
    .unwrap();
    check(&w.t);
    assert_eq!(w.t.used_v4("vsw-c1a").len(), 2);
    w.run(PROVIDER, |t, c| t.disable_connection(c, &svc, &ep))
        .unwrap();
    check(&w.t);
    assert_eq!(w.t.used_v4("vsw-c1a").len(), 1);
    assert!(w.t.resource_load(&svc, A).is_empty());
    w.run(C1, |t, c| t.delete_endpoint(c, &ep)).unwrap();
    check(&w.t);
    assert!(w.t.used_v4("vsw-c1a").is_empty());
}

#[test]
fn r9_staged_rollout_uids_one_by_one_then_star() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    assert!(!w.t.services[&svc].visible_to(C1) && !w.t.services[&svc].visible_to(C2));
    w.whitelist(&svc, Principal::Account(C1));
    assert!(w.t.services[&svc].visible_to(C1) && !w.t.services[&svc].visible_to(C2));
    w.whitelist(&svc, Principal::All);
    assert!(w.t.services[&svc].visible_to(C2));
    // with auto-accept off every connection still waits for the provider
    let mut req = World::endpoint_req(&svc, &[(A, "vsw-c2a")]);
    req.vpc_id = "vpc-consumer2".into();
    req.security_groups = vec!["sg-c2all".into()];
    let ep = w.run(C2, |t, c| t.create_endpoint(c, req)).unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Disconnected);
}

#[test]
fn r17_disconnected_means_nobody_allowed_it_and_invisible_means_not_whitelisted() {
    let mut w = World::new();
    let svc = w.nlb_service(false);
    // not whitelisted: the service does not exist for the consumer
    assert_eq!(
        code(w.run(C1, |t, c| t.update_service(
            c,
            &svc,
            UpdateService::default()
        ))),
        "EndpointServiceNotFound"
    );
    assert!(!w.t.services[&svc].visible_to(C1));
    w.whitelist(&svc, Principal::Account(C1));
    let ep = w.endpoint(&svc).unwrap();
    assert_eq!(w.ep(&ep).connection, ConnectionStatus::Disconnected);
    assert!(dataplane_view(&w.t, &w.inv).iter().all(|v| !v.forwarding));
    w.run(PROVIDER, |t, c| t.enable_connection(c, &svc, &ep, None))
        .unwrap();
    assert!(dataplane_view(&w.t, &w.inv).iter().all(|v| v.forwarding));
}
