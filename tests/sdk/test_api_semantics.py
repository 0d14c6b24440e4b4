"""Cross-cutting API behaviour: signatures, paging, ClientToken, DryRun, inventory reads."""
from __future__ import annotations

from alibabacloud_privatelink20200415 import models
from alibabacloud_tea_openapi import utils as oa_utils

from eplink_sdk import (CONSUMER1_UID, KEYS, REGION, ZA, ZB, create_endpoint, create_service,
                        delete_service, expect_error, get_service, list_resources, make_client,
                        services_by_end_user, whitelist, zone)


def test_auth_bad_signature(daemon):
    bad = make_client(daemon.endpoint, KEYS["provider"][0], "not-the-secret")
    expect_error("SignatureDoesNotMatch", lambda: bad.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=REGION)))
    # another account's secret with this key id is just as wrong
    bad2 = make_client(daemon.endpoint, KEYS["provider"][0], KEYS["consumer1"][1])
    expect_error("SignatureDoesNotMatch", lambda: bad2.describe_regions(models.DescribeRegionsRequest()))


def test_auth_unknown_key(daemon):
    ghost = make_client(daemon.endpoint, "LTAInosuchkey", "whatever-secret")
    expect_error("InvalidAccessKeyId.NotFound", lambda: ghost.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=REGION)))


def test_auth_replayed_nonce_refused(daemon, provider, monkeypatch):
    monkeypatch.setattr(oa_utils.Utils, "get_nonce", staticmethod(lambda: "f" * 32))
    provider.describe_regions(models.DescribeRegionsRequest())
    expect_error("SignatureNonceUsed", lambda: provider.describe_regions(models.DescribeRegionsRequest()))


def test_auth_stale_date_refused(daemon, provider, monkeypatch):
    monkeypatch.setattr(oa_utils.Utils, "get_timestamp", staticmethod(lambda: "2020-01-01T00:00:00Z"))
    expect_error("InvalidTimeStamp.Expired", lambda: provider.describe_regions(models.DescribeRegionsRequest()))


def test_describe_regions_and_zones(provider):
    regions = provider.describe_regions(models.DescribeRegionsRequest()).body
    assert regions.request_id
    assert [(r.region_id, r.local_name) for r in regions.regions.region] == [(REGION, "China (Hangzhou)")]
    zones = provider.describe_zones(models.DescribeZonesRequest(region_id=REGION)).body
    assert [(z.zone_id, z.local_name) for z in zones.zones.zone] == [(ZA, "Hangzhou Zone A"),
                                                                    (ZB, "Hangzhou Zone B")]


SERVICES_RES = [[("nlb-prov1", ZA)], [("nlb-prov2", ZA)], [("nlb-prov3", ZB)], [("alb-prov1", ZA)],
                [("lb-prov1", ZB)]]


def test_paging_max_results_next_token(provider, consumer1):
    sids = [create_service(provider, r) for r in SERVICES_RES]
    seen, token, pages = [], None, 0
    while True:
        body = provider.list_vpc_endpoint_services(models.ListVpcEndpointServicesRequest(
            region_id=REGION, max_results=2, next_token=token)).body
        pages += 1
        assert body.max_results == 2
        assert int(body.total_count) == 5
        assert len(body.services) <= 2
        seen += [s.service_id for s in body.services]
        token = body.next_token
        if not token:
            break
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted(sids) and len(set(seen)) == 5
    # the consumer's view pages the same way over the services it may use
    for sid in sids[:3]:
        whitelist(provider, sid, CONSUMER1_UID)
    seen, token = [], None
    for _ in range(5):
        body = consumer1.list_vpc_endpoint_services_by_end_user(models.ListVpcEndpointServicesByEndUserRequest(
            region_id=REGION, max_results=1, next_token=token)).body
        assert len(body.services) <= 1
        seen += [s.service_id for s in body.services]
        token = body.next_token
        if not token:
            break
    assert sorted(seen) == sorted(sids[:3])
    assert sorted(s.service_id for s in services_by_end_user(consumer1)) == sorted(sids[:3])
    expect_error("IllegalParam.MaxResults", lambda: provider.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=REGION, max_results=0)))
    expect_error("IllegalParam.MaxResults", lambda: provider.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=REGION, max_results=1001)))
    expect_error("IllegalParam.NextToken", lambda: provider.list_vpc_endpoint_services(
        models.ListVpcEndpointServicesRequest(region_id=REGION, next_token="not-a-token")))


def _all_services(provider):
    return provider.list_vpc_endpoint_services(models.ListVpcEndpointServicesRequest(
        region_id=REGION, max_results=100)).body.services


def test_client_token_idempotency(provider, consumer1):
    def create():
        return provider.create_vpc_endpoint_service(models.CreateVpcEndpointServiceRequest(
            region_id=REGION, service_resource_type="nlb", auto_accept_enabled=True,
            client_token="token-create-service-1",
            resource=[models.CreateVpcEndpointServiceRequestResource(
                resource_id="nlb-prov1", resource_type="nlb", zone_id=ZA)])).body
    a, b = create(), create()
    assert a.service_id and a.service_id == b.service_id
    assert a.request_id != b.request_id
    assert [s.service_id for s in _all_services(provider)] == [a.service_id]
    whitelist(provider, a.service_id, CONSUMER1_UID)

    def create_ep():
        return consumer1.create_vpc_endpoint(models.CreateVpcEndpointRequest(
            region_id=REGION, service_id=a.service_id, vpc_id="vpc-consumer1",
            security_group_id=["sg-c1all"], zone=[zone(ZA, "vsw-c1tiny")],
            client_token="token-create-endpoint-1")).body
    e1, e2 = create_ep(), create_ep()
    assert e1.endpoint_id and e1.endpoint_id == e2.endpoint_id
    eps = consumer1.list_vpc_endpoints(models.ListVpcEndpointsRequest(region_id=REGION)).body.endpoints
    assert [e.endpoint_id for e in eps] == [e1.endpoint_id]
    # only one ENI address was taken: three more endpoints still fit in the /29
    for _ in range(3):
        create_endpoint(consumer1, a.service_id, zones=[zone(ZA, "vsw-c1tiny")])
    # a different token is a different request
    c = provider.create_vpc_endpoint_service(models.CreateVpcEndpointServiceRequest(
        region_id=REGION, service_resource_type="nlb", client_token="token-create-service-2")).body
    assert c.service_id != a.service_id


def test_dry_run_changes_nothing(provider, consumer1):
    expect_error("DryRunOperation", lambda: provider.create_vpc_endpoint_service(
        models.CreateVpcEndpointServiceRequest(
            region_id=REGION, service_resource_type="nlb", dry_run=True,
            resource=[models.CreateVpcEndpointServiceRequestResource(
                resource_id="nlb-prov1", resource_type="nlb", zone_id=ZA)])))
    assert _all_services(provider) == []
    # a dry run that would fail gives the real error
    expect_error("IllegalParam.AddressIpVersion", lambda: provider.create_vpc_endpoint_service(
        models.CreateVpcEndpointServiceRequest(
            region_id=REGION, service_resource_type="slb", dry_run=True, address_ip_version="DualStack",
            resource=[models.CreateVpcEndpointServiceRequestResource(
                resource_id="lb-prov1", resource_type="slb", zone_id=ZA)])))
    sid = create_service(provider, [("nlb-prov1", ZA), ("nlb-prov1", ZB)])
    expect_error("DryRunOperation", lambda: provider.detach_resource_from_vpc_endpoint_service(
        models.DetachResourceFromVpcEndpointServiceRequest(
            region_id=REGION, service_id=sid, resource_id="nlb-prov1", resource_type="nlb", zone_id=ZA,
            dry_run=True)))
    assert len(list_resources(provider, sid)) == 2
    expect_error("EndpointServiceNotAuthorized", lambda: consumer1.create_vpc_endpoint(
        models.CreateVpcEndpointRequest(region_id=REGION, service_id=sid, vpc_id="vpc-consumer1",
                                        security_group_id=["sg-c1all"], zone=[zone(ZA, "vsw-c1a")],
                                        dry_run=True)))
    expect_error("DryRunOperation", lambda: provider.add_user_to_vpc_endpoint_service(
        models.AddUserToVpcEndpointServiceRequest(region_id=REGION, service_id=sid,
                                                  user_id=CONSUMER1_UID, dry_run=True)))
    assert services_by_end_user(consumer1) == []
    expect_error("EndpointServiceDependenceViolation", lambda: provider.delete_vpc_endpoint_service(
        models.DeleteVpcEndpointServiceRequest(region_id=REGION, service_id=sid, dry_run=True)))
    empty = create_service(provider, [])
    expect_error("DryRunOperation", lambda: provider.delete_vpc_endpoint_service(
        models.DeleteVpcEndpointServiceRequest(region_id=REGION, service_id=empty, dry_run=True)))
    assert get_service(provider, empty).service_status == "Active"


def test_delete_empty_service(provider):
    sid = create_service(provider, [])
    delete_service(provider, sid)
    expect_error("EndpointServiceNotFound", lambda: get_service(provider, sid))
