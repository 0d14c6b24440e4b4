"""Crash safety: everything acknowledged survives `kill -9`, nothing half-done is visible."""
from __future__ import annotations

import threading
import time

from alibabacloud_privatelink20200415 import models

from eplink_sdk import (CONNECTION_STATES, CONSUMER1_UID, ENDPOINT_STATES, REGION, SERVICE_STATES,
                        ZA, ZB, ZONE_STATES, create_endpoint, create_service, delete_service,
                        disable_zone, enable_connection, expect_error, get_endpoint, get_service,
                        wait_connection, wait_zone, whitelist, zone)


def snapshot(provider, consumer1) -> dict:
    """Everything both accounts can read, without the per-call RequestIds."""
    def clean(body):
        m = body.to_map()
        m.pop("RequestId", None)
        return m
    snap = {
        "services": clean(provider.list_vpc_endpoint_services(models.ListVpcEndpointServicesRequest(
            region_id=REGION, max_results=100)).body),
        "connections": clean(provider.list_vpc_endpoint_connections(models.ListVpcEndpointConnectionsRequest(
            region_id=REGION, max_results=100)).body),
        "endpoints": clean(consumer1.list_vpc_endpoints(models.ListVpcEndpointsRequest(
            region_id=REGION, max_results=100)).body),
    }
    for s in snap["services"]["Services"]:
        sid = s["ServiceId"]
        snap[f"service {sid}"] = clean(get_service(provider, sid))
        snap[f"resources {sid}"] = clean(provider.list_vpc_endpoint_service_resources(
            models.ListVpcEndpointServiceResourcesRequest(region_id=REGION, service_id=sid)).body)
        snap[f"users {sid}"] = clean(provider.list_vpc_endpoint_service_users(
            models.ListVpcEndpointServiceUsersRequest(region_id=REGION, service_id=sid)).body)
    for e in snap["endpoints"]["Endpoints"]:
        eid = e["EndpointId"]
        snap[f"endpoint {eid}"] = clean(get_endpoint(consumer1, eid))
        snap[f"zones {eid}"] = clean(consumer1.list_vpc_endpoint_zones(models.ListVpcEndpointZonesRequest(
            region_id=REGION, endpoint_id=eid)).body)
    return snap


def assert_valid_states(snap: dict) -> None:
    for s in snap["services"]["Services"]:
        assert s["ServiceStatus"] in SERVICE_STATES, s
    for e in snap["endpoints"]["Endpoints"]:
        assert e["EndpointStatus"] in ENDPOINT_STATES, e
        assert e["ConnectionStatus"] in CONNECTION_STATES, e
    for c in snap["connections"]["Connections"]:
        assert c["ConnectionStatus"] in CONNECTION_STATES, c
        for z in c["Zones"]:
            assert z["ZoneStatus"] in ZONE_STATES, z


def test_crash_safety_acknowledged_calls_survive_kill9(daemon):
    provider, consumer1 = daemon.client("provider"), daemon.client("consumer1")
    sid = create_service(provider, [("nlb-prov1", ZA), ("nlb-prov2", ZA), ("nlb-prov1", ZB)],
                         auto_accept=False, service_description="before crash")
    whitelist(provider, sid, CONSUMER1_UID)
    eid = create_endpoint(consumer1, sid, endpoint_name="crash ep",
                          zones=[zone(ZA, "vsw-c1a", "192.168.1.77"), zone(ZB, "vsw-c1b")])
    enable_connection(provider, sid, eid, bandwidth=1500)
    wait_connection(provider, sid, eid, "Connected")
    disable_zone(provider, sid, eid, ZB)
    wait_zone(provider, sid, eid, ZB, "Disconnected")
    gone = create_service(provider, [])
    delete_service(provider, gone)
    provider.update_vpc_endpoint_service_resource_attribute(
        models.UpdateVpcEndpointServiceResourceAttributeRequest(
            region_id=REGION, service_id=sid, resource_id="nlb-prov2", zone_id=ZA,
            auto_allocated_enabled=False))
    # the last acknowledged write, then SIGKILL at once
    provider.update_vpc_endpoint_service_attribute(models.UpdateVpcEndpointServiceAttributeRequest(
        region_id=REGION, service_id=sid, service_description="last write before crash"))
    daemon.kill9()
    daemon.start()
    provider, consumer1 = daemon.client("provider"), daemon.client("consumer1")
    b = get_service(provider, sid)
    assert b.service_description == "last write before crash"
    assert b.auto_accept_enabled is False
    expect_error("EndpointServiceNotFound", lambda: get_service(provider, gone))
    auto = {(r.resource_id, r.zone_id): r.auto_allocated_enabled for r in
            provider.list_vpc_endpoint_service_resources(models.ListVpcEndpointServiceResourcesRequest(
                region_id=REGION, service_id=sid)).body.resources}
    assert auto == {("nlb-prov1", ZA): True, ("nlb-prov2", ZA): False, ("nlb-prov1", ZB): True}
    e = get_endpoint(consumer1, eid)
    assert e.endpoint_name == "crash ep" and e.connection_status == "Connected" and e.bandwidth == 1500
    c = wait_zone(provider, sid, eid, ZA, "Connected", timeout=2)
    assert {z.zone_id: z.zone_status for z in c.zones} == {ZA: "Connected", ZB: "Disconnected"}
    zs = {z.zone_id: z.eni_ip for z in consumer1.list_vpc_endpoint_zones(models.ListVpcEndpointZonesRequest(
        region_id=REGION, endpoint_id=eid)).body.zones}
    assert zs[ZA] == "192.168.1.77"

    # a clean second snapshot round: what is read before a crash is read after it
    before = snapshot(provider, consumer1)
    assert_valid_states(before)
    daemon.kill9()
    daemon.start()
    after = snapshot(daemon.client("provider"), daemon.client("consumer1"))
    assert after == before


def test_crash_safety_kill9_during_writes(daemon):
    """Writes in flight while the daemon dies: every acknowledged one is there afterwards."""
    provider = daemon.client("provider")
    sid = create_service(provider, [])
    acked: list[int] = []
    attempted: list[int] = []
    stop = threading.Event()

    def writer():
        uid = 5000000000000001
        while not stop.is_set():
            attempted.append(uid)
            try:
                provider.add_user_to_vpc_endpoint_service(models.AddUserToVpcEndpointServiceRequest(
                    region_id=REGION, service_id=sid, user_id=uid))
            except Exception:  # noqa: BLE001 - the daemon is being killed
                return
            acked.append(uid)
            uid += 1

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.monotonic() + 10
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    daemon.kill9()
    stop.set()
    t.join(timeout=30)
    assert len(acked) >= 20, f"only {len(acked)} writes acknowledged in 10 s"
    daemon.start()
    provider = daemon.client("provider")
    users, token = [], None
    for _ in range(100):
        body = provider.list_vpc_endpoint_service_users(models.ListVpcEndpointServiceUsersRequest(
            region_id=REGION, service_id=sid, max_results=50, next_token=token)).body
        users += [u.user_id for u in body.users]
        token = body.next_token
        if not token:
            break
    missing = [u for u in acked if u not in users]
    assert not missing, f"acknowledged but lost after kill -9: {missing}"
    unexpected = [u for u in users if u >= 5000000000000001 and u not in attempted]
    assert not unexpected, unexpected
    assert len(set(users)) == len(users), "duplicate whitelist entries after restart"
