"""The seed's workflow, step by step, on one daemon (the steps run in file order and share state).

Provider: a service with auto-accept off and resources in two zones, consumer whitelisted.
Consumer: finds it with ListVpcEndpointServicesByEndUser, creates a two-zone endpoint.
The connection stays Disconnected until the provider allows it with a bandwidth; then zone
disconnect, re-allocation (Manual and Auto), enable; then the documented delete order (R33).
"""
from __future__ import annotations

import pytest
from alibabacloud_privatelink20200415 import models

from eplink_sdk import (CONNECTION_STATES, CONSUMER1_UID, PROVIDER_UID, REGION, ZA, ZB, ZONE_STATES,
                        connection, create_endpoint, create_service, delete_service, detach,
                        disable_connection, disable_zone, enable_connection, enable_zone,
                        expect_error, get_endpoint, get_service, list_resources,
                        services_by_end_user, set_allocation, wait_connection, wait_for, wait_zone,
                        whitelist, zone, zone_of)

S: dict = {}

RESOURCES = [("nlb-prov1", ZA), ("nlb-prov1", ZB), ("nlb-prov2", ZA), ("nlb-prov2", ZB)]


@pytest.fixture(scope="module")
def provider(module_daemon):
    return module_daemon.client("provider")


@pytest.fixture(scope="module")
def consumer1(module_daemon):
    return module_daemon.client("consumer1")


@pytest.fixture(autouse=True)
def _needs_previous_steps(request):
    needed = getattr(request.function, "needs", ())
    missing = [k for k in needed if k not in S]
    if missing:
        pytest.fail(f"an earlier workflow step failed (missing {missing})")


def needs(*keys):
    def mark(f):
        f.needs = keys
        return f
    return mark


def test_r3_r7_provider_creates_service_with_two_zones(provider):
    sid = create_service(provider, RESOURCES, auto_accept=False, zone_affinity_enabled=False,
                         payer="Endpoint", address_ip_version="IPv4",
                         service_description="seed workflow service")
    b = get_service(provider, sid)
    assert b.service_id == sid
    assert b.auto_accept_enabled is False
    assert b.payer == "Endpoint"
    assert b.address_ip_version == "IPv4"
    assert b.service_resource_type == "nlb"
    assert b.service_description == "seed workflow service"
    assert b.region_id == REGION
    assert b.service_name == f"com.aliyuncs.privatelink.{REGION}.{sid}"
    assert b.service_domain and sid in b.service_domain
    assert b.create_time
    assert sorted(b.zones) == [ZA, ZB]
    got = sorted((r.resource_id, r.zone_id) for r in list_resources(provider, sid))
    assert got == sorted(RESOURCES)
    for r in list_resources(provider, sid):
        assert r.resource_type == "nlb" and r.auto_allocated_enabled is True, r.to_map()
    users = provider.list_vpc_endpoint_service_users(models.ListVpcEndpointServiceUsersRequest(
        region_id=REGION, service_id=sid)).body
    assert PROVIDER_UID in [u.user_id for u in users.users], users.to_map()  # R7
    S["sid"] = sid
    S["name"] = b.service_name


@needs("sid")
def test_r8_r17_service_invisible_until_whitelisted(consumer1, provider):
    sid = S["sid"]
    assert sid not in [s.service_id for s in services_by_end_user(consumer1)]
    whitelist(provider, sid, CONSUMER1_UID)
    users = provider.list_vpc_endpoint_service_users(models.ListVpcEndpointServiceUsersRequest(
        region_id=REGION, service_id=sid)).body
    assert CONSUMER1_UID in [u.user_id for u in users.users], users.to_map()
    found = [s for s in services_by_end_user(consumer1) if s.service_id == sid]
    assert len(found) == 1
    s = found[0]
    assert s.service_name == S["name"]
    assert s.auto_accept_enabled is False
    assert s.service_resource_type == "nlb"
    assert s.service_type == "Interface"
    assert sorted(s.zones) == [ZA, ZB]
    by_name = services_by_end_user(consumer1, service_name=S["name"])
    assert [x.service_id for x in by_name] == [sid]


@needs("sid")
def test_r10_consumer_creates_two_zone_endpoint_by_name(consumer1):
    eid = create_endpoint(consumer1, None, service_name=S["name"], endpoint_name="seed endpoint",
                          zones=[zone(ZA, "vsw-c1a", "192.168.1.10"), zone(ZB, "vsw-c1b")])
    b = get_endpoint(consumer1, eid)
    assert b.service_id == S["sid"]
    assert b.service_name == S["name"]
    assert b.vpc_id == "vpc-consumer1"
    assert b.endpoint_name == "seed endpoint"
    assert b.region_id == REGION
    assert b.endpoint_domain and eid in b.endpoint_domain and S["sid"] in b.endpoint_domain
    zones = consumer1.list_vpc_endpoint_zones(models.ListVpcEndpointZonesRequest(
        region_id=REGION, endpoint_id=eid)).body.zones
    by_zone = {z.zone_id: z for z in zones}
    assert sorted(by_zone) == [ZA, ZB]
    assert by_zone[ZA].eni_ip == "192.168.1.10"
    assert by_zone[ZA].v_switch_id == "vsw-c1a" and by_zone[ZB].v_switch_id == "vsw-c1b"
    ip_b = by_zone[ZB].eni_ip
    assert ip_b and ip_b.startswith("192.168.2."), ip_b
    assert ip_b not in ("192.168.2.0", "192.168.2.253", "192.168.2.254", "192.168.2.255")
    for z in zones:
        assert z.eni_id and z.eni_id.startswith("eni-"), z.to_map()
        assert z.zone_status in ZONE_STATES
    sgs = consumer1.list_vpc_endpoint_security_groups(models.ListVpcEndpointSecurityGroupsRequest(
        region_id=REGION, endpoint_id=eid)).body.security_groups
    assert [g.security_group_id for g in sgs] == ["sg-c1all"]
    S["eid"] = eid


@needs("sid", "eid")
def test_r15_r16_r17_connection_disconnected_until_allowed(provider, consumer1):
    c = connection(provider, S["sid"], S["eid"])
    assert c.connection_status == "Disconnected", c.to_map()
    assert c.endpoint_owner_id == CONSUMER1_UID
    assert c.endpoint_vpc_id == "vpc-consumer1"
    for z in c.zones:
        assert z.zone_status != "Connected", z.to_map()
    assert get_endpoint(consumer1, S["eid"]).connection_status == "Disconnected"


@needs("sid", "eid")
def test_r16_r32_provider_allows_with_bandwidth(provider, consumer1):
    enable_connection(provider, S["sid"], S["eid"], bandwidth=1024)
    c = wait_connection(provider, S["sid"], S["eid"], "Connected")
    assert c.bandwidth == 1024
    for zid in (ZA, ZB):
        z = wait_zone(provider, S["sid"], S["eid"], zid, "Connected")
        zz = zone_of(z, zid)
        assert (zz.resource_id, zid) in RESOURCES, zz.to_map()
    e = get_endpoint(consumer1, S["eid"])
    assert e.connection_status == "Connected"
    assert e.bandwidth == 1024


@needs("sid", "eid")
def test_r32_bandwidth_update_after_connect(provider):
    provider.update_vpc_endpoint_connection_attribute(models.UpdateVpcEndpointConnectionAttributeRequest(
        region_id=REGION, service_id=S["sid"], endpoint_id=S["eid"], bandwidth=2048))
    assert connection(provider, S["sid"], S["eid"]).bandwidth == 2048


@needs("sid", "eid")
def test_r25_zone_disconnect_then_manual_reallocation(provider):
    sid, eid = S["sid"], S["eid"]
    before = zone_of(connection(provider, sid, eid), ZA).resource_id
    target = "nlb-prov2" if before == "nlb-prov1" else "nlb-prov1"
    disable_zone(provider, sid, eid, ZA)
    c = wait_zone(provider, sid, eid, ZA, "Disconnected")
    assert c.connection_status == "Connected"          # only the zone is disconnected
    assert zone_of(c, ZB).zone_status == "Connected"
    set_allocation(provider, sid, eid, ZA, "Manual", target)
    enable_zone(provider, sid, eid, ZA)
    c = wait_zone(provider, sid, eid, ZA, "Connected")
    assert zone_of(c, ZA).resource_id == target
    S["manual_target"] = target


@needs("sid", "eid", "manual_target")
def test_r25_auto_reallocation_clears_manual_choice(provider):
    sid, eid = S["sid"], S["eid"]
    disable_zone(provider, sid, eid, ZA)
    wait_zone(provider, sid, eid, ZA, "Disconnected")
    set_allocation(provider, sid, eid, ZA, "Auto")
    enable_zone(provider, sid, eid, ZA)
    c = wait_zone(provider, sid, eid, ZA, "Connected")
    assert zone_of(c, ZA).resource_id in ("nlb-prov1", "nlb-prov2")


@needs("sid", "eid")
def test_r33_delete_order(provider, consumer1):
    sid, eid = S["sid"], S["eid"]
    expect_error("EndpointServiceConnectionDependence", lambda: delete_service(provider, sid))
    disable_connection(provider, sid, eid)
    wait_connection(provider, sid, eid, "Disconnected")
    expect_error("EndpointServiceDependenceViolation", lambda: delete_service(provider, sid))
    for rid, zid in RESOURCES:
        detach(provider, sid, rid, zid)
    assert list_resources(provider, sid) == []
    delete_service(provider, sid)
    expect_error("EndpointServiceNotFound", lambda: get_service(provider, sid))
    e = wait_for(lambda: get_endpoint(consumer1, eid), lambda b: b.connection_status == "ServiceDeleted",
                 CONNECTION_STATES, lambda b: b.connection_status, what="endpoint after service delete")
    assert e.endpoint_id == eid
    consumer1.delete_vpc_endpoint(models.DeleteVpcEndpointRequest(region_id=REGION, endpoint_id=eid))

    def gone():
        try:
            b = get_endpoint(consumer1, eid)
        except Exception as ex:  # noqa: BLE001 - the SDK raises ClientException
            return getattr(ex, "code", None) == "EndpointNotFound"
        assert b.endpoint_status in ("Active", "Deleting"), b.to_map()
        return False
    wait_for(lambda: gone(), lambda g: g, what="endpoint deleted")
