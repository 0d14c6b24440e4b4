"""Endpoint zones and security groups (R10, R13, R14)."""
from __future__ import annotations

from alibabacloud_privatelink20200415 import models

from eplink_sdk import (CONSUMER1_UID, REGION, ZA, ZB, create_endpoint, create_service, expect_error,
                        whitelist, zone)


def _zones(c, eid):
    return {z.zone_id: z for z in c.list_vpc_endpoint_zones(models.ListVpcEndpointZonesRequest(
        region_id=REGION, endpoint_id=eid)).body.zones}


def _sgs(c, eid):
    return sorted(g.security_group_id for g in c.list_vpc_endpoint_security_groups(
        models.ListVpcEndpointSecurityGroupsRequest(region_id=REGION, endpoint_id=eid)).body.security_groups)


def test_r10_add_and_remove_endpoint_zone(provider, consumer1):
    sid = create_service(provider, [("nlb-prov1", ZA), ("nlb-prov1", ZB)], auto_accept=True)
    whitelist(provider, sid, CONSUMER1_UID)
    eid = create_endpoint(consumer1, sid, zones=[zone(ZA, "vsw-c1a")])
    assert sorted(_zones(consumer1, eid)) == [ZA]
    consumer1.add_zone_to_vpc_endpoint(models.AddZoneToVpcEndpointRequest(
        region_id=REGION, endpoint_id=eid, zone_id=ZB, v_switch_id="vsw-c1b", ip="192.168.2.20"))
    zs = _zones(consumer1, eid)
    assert sorted(zs) == [ZA, ZB] and zs[ZB].eni_ip == "192.168.2.20"
    expect_error("IllegalParam.ZoneId", lambda: consumer1.add_zone_to_vpc_endpoint(
        models.AddZoneToVpcEndpointRequest(region_id=REGION, endpoint_id=eid, zone_id=ZB, v_switch_id="vsw-c1b")))
    consumer1.remove_zone_from_vpc_endpoint(models.RemoveZoneFromVpcEndpointRequest(
        region_id=REGION, endpoint_id=eid, zone_id=ZB))
    assert sorted(_zones(consumer1, eid)) == [ZA]
    # the freed address can be used again
    consumer1.add_zone_to_vpc_endpoint(models.AddZoneToVpcEndpointRequest(
        region_id=REGION, endpoint_id=eid, zone_id=ZB, v_switch_id="vsw-c1b", ip="192.168.2.20"))
    assert _zones(consumer1, eid)[ZB].eni_ip == "192.168.2.20"


def test_r13_attach_and_detach_security_groups(provider, consumer1):
    sid = create_service(provider, [("nlb-prov1", ZA), ("nlb-prov1", ZB)], auto_accept=True)
    whitelist(provider, sid, CONSUMER1_UID)
    eid = create_endpoint(consumer1, sid, sgs=("sg-c1all",))
    consumer1.attach_security_group_to_vpc_endpoint(models.AttachSecurityGroupToVpcEndpointRequest(
        region_id=REGION, endpoint_id=eid, security_group_id="sg-c1web"))
    assert _sgs(consumer1, eid) == ["sg-c1all", "sg-c1web"]
    expect_error("Forbidden", lambda: consumer1.attach_security_group_to_vpc_endpoint(
        models.AttachSecurityGroupToVpcEndpointRequest(region_id=REGION, endpoint_id=eid,
                                                       security_group_id="sg-c2all")))
    consumer1.detach_security_group_from_vpc_endpoint(models.DetachSecurityGroupFromVpcEndpointRequest(
        region_id=REGION, endpoint_id=eid, security_group_id="sg-c1all"))
    assert _sgs(consumer1, eid) == ["sg-c1web"]


def test_r14_zone_affinity_needs_service_affinity(provider, consumer1):
    sid = create_service(provider, [("nlb-prov1", ZA), ("nlb-prov1", ZB)], zone_affinity_enabled=False)
    whitelist(provider, sid, CONSUMER1_UID)
    expect_error("IllegalParam.ZoneAffinityEnabled",
                 lambda: create_endpoint(consumer1, sid, zone_affinity_enabled=True))
    sid2 = create_service(provider, [("nlb-prov2", ZA), ("nlb-prov2", ZB)], zone_affinity_enabled=True)
    whitelist(provider, sid2, CONSUMER1_UID)
    eid = create_endpoint(consumer1, sid2, zone_affinity_enabled=True)
    assert consumer1.get_vpc_endpoint_attribute(models.GetVpcEndpointAttributeRequest(
        region_id=REGION, endpoint_id=eid)).body.zone_affinity_enabled is True
