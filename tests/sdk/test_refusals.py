"""Every documented refusal, each with its exact error code (docs/api-reference.md section 5)."""
from __future__ import annotations

from alibabacloud_privatelink20200415 import models
from darabonba.runtime import ExtendsParameters, RuntimeOptions

from eplink_sdk import (CONSUMER1_UID, CONSUMER2_UID, REGION, ZA, ZB, connection, create_endpoint,
                        create_service, delete_service, detach, disable_zone, enable_connection,
                        expect_error, get_endpoint, get_service, list_resources, services_by_end_user,
                        set_auto_allocated, wait_connection, wait_zone, whitelist, zone, zone_of)

NLB_AB = [("nlb-prov1", ZA), ("nlb-prov1", ZB)]


def test_r8_not_whitelisted_consumer_cannot_see_or_connect(provider, consumer1, consumer2):
    sid = create_service(provider, NLB_AB)
    whitelist(provider, sid, CONSUMER1_UID)
    assert sid in [s.service_id for s in services_by_end_user(consumer1)]
    # consumer2 is not whitelisted: the service is invisible, even asked for by id or name ...
    assert sid not in [s.service_id for s in services_by_end_user(consumer2)]
    assert services_by_end_user(consumer2, service_id=sid) == []
    name = get_service(provider, sid).service_name
    assert services_by_end_user(consumer2, service_name=name) == []
    # ... and creating an endpoint for it is refused.
    expect_error("EndpointServiceNotAuthorized", lambda: create_endpoint(
        consumer2, sid, vpc="vpc-consumer2", sgs=("sg-c2all",),
        zones=[zone(ZA, "vsw-c2a"), zone(ZB, "vsw-c2b")]))


def test_r8_removed_user_loses_access(provider, consumer2):
    sid = create_service(provider, NLB_AB)
    whitelist(provider, sid, CONSUMER2_UID)
    assert [s.service_id for s in services_by_end_user(consumer2, service_id=sid)] == [sid]
    provider.remove_user_from_vpc_endpoint_service(models.RemoveUserFromVpcEndpointServiceRequest(
        region_id=REGION, service_id=sid, user_id=CONSUMER2_UID))
    assert services_by_end_user(consumer2, service_id=sid) == []
    expect_error("EndpointServiceNotAuthorized", lambda: create_endpoint(
        consumer2, sid, vpc="vpc-consumer2", sgs=("sg-c2all",), zones=[zone(ZA, "vsw-c2a")]))


def test_r9_star_whitelists_every_account(provider, consumer2):
    sid = create_service(provider, NLB_AB)
    provider.add_user_to_vpc_endpoint_service(models.AddUserToVpcEndpointServiceRequest(
        region_id=REGION, service_id=sid, user_arn="*"))
    assert [s.service_id for s in services_by_end_user(consumer2, service_id=sid)] == [sid]
    create_endpoint(consumer2, sid, vpc="vpc-consumer2", sgs=("sg-c2all",),
                    zones=[zone(ZA, "vsw-c2a"), zone(ZB, "vsw-c2b")])


def _connected(provider, consumer1, resources):
    sid = create_service(provider, resources, auto_accept=True)
    whitelist(provider, sid, CONSUMER1_UID)
    eid = create_endpoint(consumer1, sid)
    wait_connection(provider, sid, eid, "Connected")
    return sid, eid


def test_r16_auto_accept_connects_at_once(provider, consumer1):
    sid, eid = _connected(provider, consumer1, NLB_AB)
    for zid in (ZA, ZB):
        wait_zone(provider, sid, eid, zid, "Connected")


def test_r33_delete_service_with_connections_refused(provider, consumer1):
    sid, _ = _connected(provider, consumer1, NLB_AB)
    expect_error("EndpointServiceConnectionDependence", lambda: delete_service(provider, sid))
    assert get_service(provider, sid).service_status == "Active"


def test_r33_delete_service_with_resources_refused(provider):
    sid = create_service(provider, NLB_AB)
    expect_error("EndpointServiceDependenceViolation", lambda: delete_service(provider, sid))
    assert len(list_resources(provider, sid)) == 2


def test_r26_detach_allocated_resource_refused_until_disconnected(provider, consumer1):
    sid, eid = _connected(provider, consumer1, [("nlb-prov1", ZA), ("nlb-prov2", ZA), ("nlb-prov1", ZB)])
    allocated = zone_of(connection(provider, sid, eid), ZA).resource_id
    assert allocated in ("nlb-prov1", "nlb-prov2")
    expect_error("EndpointServiceConnectionDependence", lambda: detach(provider, sid, allocated, ZA))
    assert (allocated, ZA) in [(r.resource_id, r.zone_id) for r in list_resources(provider, sid)]
    disable_zone(provider, sid, eid, ZA)
    wait_zone(provider, sid, eid, ZA, "Disconnected")
    detach(provider, sid, allocated, ZA)
    assert (allocated, ZA) not in [(r.resource_id, r.zone_id) for r in list_resources(provider, sid)]


def test_r22_last_auto_allocatable_resource_of_a_zone(provider):
    sid = create_service(provider, [("nlb-prov1", ZA), ("nlb-prov2", ZA), ("nlb-prov1", ZB)])
    set_auto_allocated(provider, sid, "nlb-prov2", ZA, False)
    expect_error("ResourceAutoAllocateViolation",
                 lambda: set_auto_allocated(provider, sid, "nlb-prov1", ZA, False))
    expect_error("ResourceAutoAllocateViolation",
                 lambda: set_auto_allocated(provider, sid, "nlb-prov1", ZB, False))
    auto = {(r.resource_id, r.zone_id): r.auto_allocated_enabled for r in list_resources(provider, sid)}
    assert auto == {("nlb-prov1", ZA): True, ("nlb-prov2", ZA): False, ("nlb-prov1", ZB): True}


def test_r4_dualstack_with_clb_refused(provider):
    expect_error("IllegalParam.AddressIpVersion", lambda: create_service(
        provider, [("lb-prov1", ZA), ("lb-prov1", ZB)], address_ip_version="DualStack"))
    # a resource that is not dual-stack (nlb-prov2) is refused the same way
    expect_error("IllegalParam.AddressIpVersion", lambda: create_service(
        provider, [("nlb-prov1", ZA), ("nlb-prov2", ZB)], address_ip_version="DualStack"))
    # every resource dual-stack: accepted
    sid = create_service(provider, NLB_AB, address_ip_version="DualStack")
    assert get_service(provider, sid).address_ip_version == "DualStack"
    # and a non-dual-stack resource cannot join it later
    expect_error("IllegalParam.AddressIpVersion", lambda: provider.attach_resource_to_vpc_endpoint_service(
        models.AttachResourceToVpcEndpointServiceRequest(
            region_id=REGION, service_id=sid, resource_id="nlb-prov2", resource_type="nlb", zone_id=ZA)))


def test_r12_dualstack_endpoint_needs_dualstack_service(provider, consumer1):
    sid = create_service(provider, NLB_AB)
    whitelist(provider, sid, CONSUMER1_UID)
    expect_error("IllegalParam.AddressIpVersion",
                 lambda: create_endpoint(consumer1, sid, address_ip_version="DualStack"))


def test_r5_payer_cannot_be_changed(provider):
    sid = create_service(provider, NLB_AB, payer="EndpointService")
    assert get_service(provider, sid).payer == "EndpointService"
    runtime = RuntimeOptions(extends_parameters=ExtendsParameters(queries={"Payer": "Endpoint"}))
    expect_error("IllegalParam.Payer", lambda: provider.update_vpc_endpoint_service_attribute_with_options(
        models.UpdateVpcEndpointServiceAttributeRequest(region_id=REGION, service_id=sid,
                                                        service_description="x"), runtime))
    b = get_service(provider, sid)
    assert b.payer == "EndpointService"


def test_r6_auto_accept_change_keeps_existing_connections(provider, consumer1, consumer2):
    sid = create_service(provider, NLB_AB, auto_accept=False)
    whitelist(provider, sid, CONSUMER1_UID)
    whitelist(provider, sid, CONSUMER2_UID)
    e1 = create_endpoint(consumer1, sid)
    wait_connection(provider, sid, e1, "Disconnected")
    provider.update_vpc_endpoint_service_attribute(models.UpdateVpcEndpointServiceAttributeRequest(
        region_id=REGION, service_id=sid, auto_accept_enabled=True))
    assert get_service(provider, sid).auto_accept_enabled is True
    assert connection(provider, sid, e1).connection_status == "Disconnected"
    e2 = create_endpoint(consumer2, sid, vpc="vpc-consumer2", sgs=("sg-c2all",),
                         zones=[zone(ZA, "vsw-c2a"), zone(ZB, "vsw-c2b")])
    wait_connection(provider, sid, e2, "Connected")
    assert connection(provider, sid, e1).connection_status == "Disconnected"


def _update_bw(provider, sid, eid, bw):
    return provider.update_vpc_endpoint_connection_attribute(models.UpdateVpcEndpointConnectionAttributeRequest(
        region_id=REGION, service_id=sid, endpoint_id=eid, bandwidth=bw))


def test_r32_bandwidth_range_nlb(provider, consumer1):
    sid = create_service(provider, NLB_AB, auto_accept=False)
    whitelist(provider, sid, CONSUMER1_UID)
    eid = create_endpoint(consumer1, sid)
    expect_error("IllegalParam.Bandwidth", lambda: enable_connection(provider, sid, eid, bandwidth=99))
    assert connection(provider, sid, eid).connection_status == "Disconnected"
    enable_connection(provider, sid, eid, bandwidth=25600)
    assert wait_connection(provider, sid, eid, "Connected").bandwidth == 25600
    expect_error("IllegalParam.Bandwidth", lambda: _update_bw(provider, sid, eid, 25601))
    expect_error("IllegalParam.Bandwidth", lambda: _update_bw(provider, sid, eid, 99))
    _update_bw(provider, sid, eid, 100)
    assert connection(provider, sid, eid).bandwidth == 100


def test_r32_bandwidth_range_alb(provider, consumer1):
    sid, eid = _connected(provider, consumer1, [("alb-prov1", ZA), ("alb-prov1", ZB)])
    expect_error("IllegalParam.Bandwidth", lambda: _update_bw(provider, sid, eid, 25601))
    _update_bw(provider, sid, eid, 25600)
    assert connection(provider, sid, eid).bandwidth == 25600


def test_r31_r32_bandwidth_range_and_default_clb(provider, consumer1, consumer2):
    sid, e1 = _connected(provider, consumer1, [("lb-prov1", ZA), ("lb-prov1", ZB)])
    assert get_service(provider, sid).connect_bandwidth == 3072
    assert connection(provider, sid, e1).bandwidth == 3072
    expect_error("IllegalParam.Bandwidth", lambda: _update_bw(provider, sid, e1, 10241))
    expect_error("IllegalParam.Bandwidth", lambda: _update_bw(provider, sid, e1, 99))
    _update_bw(provider, sid, e1, 10240)
    assert connection(provider, sid, e1).bandwidth == 10240

    def set_default(bw):
        return provider.update_vpc_endpoint_service_attribute(models.UpdateVpcEndpointServiceAttributeRequest(
            region_id=REGION, service_id=sid, connect_bandwidth=bw))
    expect_error("IllegalParam.ConnectBandwidth", lambda: set_default(10241))
    expect_error("IllegalParam.ConnectBandwidth", lambda: set_default(99))
    set_default(5000)
    assert get_service(provider, sid).connect_bandwidth == 5000
    assert connection(provider, sid, e1).bandwidth == 10240      # unchanged (R31, R32)
    whitelist(provider, sid, CONSUMER2_UID)
    e2 = create_endpoint(consumer2, sid, vpc="vpc-consumer2", sgs=("sg-c2all",),
                         zones=[zone(ZA, "vsw-c2a"), zone(ZB, "vsw-c2b")])
    assert wait_connection(provider, sid, e2, "Connected").bandwidth == 5000


def _service_for_consumer1(provider):
    sid = create_service(provider, NLB_AB, auto_accept=True)
    whitelist(provider, sid, CONSUMER1_UID)
    return sid


def test_r11_reserved_or_outside_eni_address_refused(provider, consumer1):
    sid = _service_for_consumer1(provider)
    for ip in ("192.168.1.0", "192.168.1.253", "192.168.1.254", "192.168.1.255"):
        expect_error("EniIpUnavailable", lambda: create_endpoint(
            consumer1, sid, zones=[zone(ZA, "vsw-c1a", ip), zone(ZB, "vsw-c1b")]))
    expect_error("IllegalParam.Ip", lambda: create_endpoint(
        consumer1, sid, zones=[zone(ZA, "vsw-c1a", "192.168.2.7"), zone(ZB, "vsw-c1b")]))
    # the first usable and the last usable addresses are fine
    eid = create_endpoint(consumer1, sid, zones=[zone(ZA, "vsw-c1a", "192.168.1.1"),
                                                 zone(ZB, "vsw-c1b", "192.168.2.252")])
    ips = {z.zone_id: z.eni_ip for z in consumer1.list_vpc_endpoint_zones(
        models.ListVpcEndpointZonesRequest(region_id=REGION, endpoint_id=eid)).body.zones}
    assert ips == {ZA: "192.168.1.1", ZB: "192.168.2.252"}


def test_r11_used_eni_address_refused(provider, consumer1, consumer2):
    sid = _service_for_consumer1(provider)
    whitelist(provider, sid, CONSUMER2_UID)
    create_endpoint(consumer1, sid, zones=[zone(ZA, "vsw-c1a", "192.168.1.10")])
    expect_error("EniIpUnavailable", lambda: create_endpoint(
        consumer1, sid, zones=[zone(ZA, "vsw-c1a", "192.168.1.10")]))
    # the same address in another VPC with the same CIDR is another address
    create_endpoint(consumer2, sid, vpc="vpc-consumer2", sgs=("sg-c2all",),
                    zones=[zone(ZA, "vsw-c2a", "192.168.1.10")])


def test_r11_exhausted_vswitch(provider, consumer1):
    sid = _service_for_consumer1(provider)
    ips = set()
    for _ in range(4):      # 192.168.9.0/29: .1-.4 usable; .0 and .5-.7 reserved
        eid = create_endpoint(consumer1, sid, zones=[zone(ZA, "vsw-c1tiny")])
        (z,) = consumer1.list_vpc_endpoint_zones(models.ListVpcEndpointZonesRequest(
            region_id=REGION, endpoint_id=eid)).body.zones
        ips.add(z.eni_ip)
    assert ips == {"192.168.9.1", "192.168.9.2", "192.168.9.3", "192.168.9.4"}
    expect_error("ResourceNotEnough.VSwitchIp",
                 lambda: create_endpoint(consumer1, sid, zones=[zone(ZA, "vsw-c1tiny")]))


def test_another_accounts_objects_forbidden(daemon, provider, consumer1, consumer2):
    sid = _service_for_consumer1(provider)
    eid = create_endpoint(consumer1, sid)
    # a consumer never sees or changes another account's endpoint
    expect_error("Forbidden", lambda: get_endpoint(consumer2, eid))
    expect_error("Forbidden", lambda: consumer2.delete_vpc_endpoint(models.DeleteVpcEndpointRequest(
        region_id=REGION, endpoint_id=eid)))
    expect_error("Forbidden", lambda: consumer2.update_vpc_endpoint_attribute(
        models.UpdateVpcEndpointAttributeRequest(region_id=REGION, endpoint_id=eid, endpoint_name="x")))
    # a consumer (even whitelisted) cannot manage the provider's service or its connections
    expect_error("Forbidden", lambda: consumer1.update_vpc_endpoint_service_attribute(
        models.UpdateVpcEndpointServiceAttributeRequest(region_id=REGION, service_id=sid,
                                                        auto_accept_enabled=False)))
    expect_error("Forbidden", lambda: delete_service(consumer1, sid))
    expect_error("Forbidden", lambda: consumer1.add_user_to_vpc_endpoint_service(
        models.AddUserToVpcEndpointServiceRequest(region_id=REGION, service_id=sid, user_id=CONSUMER2_UID)))
    expect_error("Forbidden", lambda: enable_connection(consumer1, sid, eid))
    # nobody uses another account's VPC, security group or load balancer
    expect_error("Forbidden", lambda: create_endpoint(provider, sid))          # consumer1's VPC
    expect_error("Forbidden", lambda: create_endpoint(consumer1, sid, sgs=("sg-c2all",)))
    expect_error("Forbidden", lambda: create_service(provider, [("nlb-c1own", ZA)]))
    # the endpoint is untouched
    assert get_endpoint(consumer1, eid).endpoint_name in (None, "")


def test_not_found_codes(provider, consumer1):
    expect_error("EndpointServiceNotFound", lambda: get_service(provider, "epsrv-00000000000000000000"))
    expect_error("EndpointNotFound", lambda: get_endpoint(consumer1, "ep-00000000000000000000"))
    sid = _service_for_consumer1(provider)
    expect_error("EndpointConnectionNotFound", lambda: enable_connection(
        provider, sid, "ep-00000000000000000000"))


def test_missing_and_illegal_params(provider, consumer1):
    expect_error("MissingParam.ServiceId", lambda: provider.get_vpc_endpoint_service_attribute(
        models.GetVpcEndpointServiceAttributeRequest(region_id=REGION)))
    expect_error("MissingParam.RegionId", lambda: provider.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest()))
    sid = _service_for_consumer1(provider)
    expect_error("MissingParam.VpcId", lambda: consumer1.create_vpc_endpoint(models.CreateVpcEndpointRequest(
        region_id=REGION, service_id=sid, security_group_id=["sg-c1all"], zone=[zone(ZA, "vsw-c1a")])))
    # R1: a region this installation does not serve
    expect_error("IllegalParam.RegionId", lambda: provider.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id="cn-beijing")))
    # R10: the vSwitch must be in the zone it is given for
    expect_error("Mismatch.ZoneId", lambda: create_endpoint(
        consumer1, sid, zones=[zone(ZA, "vsw-c1b")]))
    # R10: the service name is verified against the id
    expect_error("Mismatch.ServiceName", lambda: create_endpoint(
        consumer1, sid, service_name="com.aliyuncs.privatelink.cn-hangzhou.epsrv-00000000000000000000"))
