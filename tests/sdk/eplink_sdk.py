"""Helpers for the SDK compatibility suite: the inventory, the eplinkd process, SDK clients.

Everything here goes through the official SDK exactly as a user would use it; nothing is
mocked, and nothing is sent anywhere but 127.0.0.1.
"""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import time
from typing import Callable

import pytest
from alibabacloud_privatelink20200415 import models
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException

REPO = pathlib.Path(__file__).resolve().parents[2]

REGION = "cn-hangzhou"
ZA = "cn-hangzhou-a"
ZB = "cn-hangzhou-b"

PROVIDER_UID = 1111111111111111
CONSUMER1_UID = 2222222222222222
CONSUMER2_UID = 3333333333333333
KEYS = {
    "provider": ("LTAIproviderkey", "provider-secret-0001"),
    "consumer1": ("LTAIconsumer1key", "consumer1-secret-0001"),
    "consumer2": ("LTAIconsumer2key", "consumer2-secret-0001"),
}

# States as the API's own enums (SPEC.md "API").
SERVICE_STATES = {"Creating", "Active", "Pending", "Deleting"}
ENDPOINT_STATES = {"Creating", "Active", "Pending", "Deleting"}
CONNECTION_STATES = {"Pending", "Connecting", "Connected", "Disconnecting", "Disconnected",
                     "Deleting", "ServiceDeleted"}
ZONE_STATES = {"Creating", "Wait", "Connecting", "Connected", "Disconnecting", "Disconnected",
               "Migrating", "Migrated", "Deleting"}

INVENTORY = """\
# written by tests/sdk/eplink_sdk.py (format: docs/inventory.md)
region = "cn-hangzhou"
region_name = "China (Hangzhou)"
service_name_prefix = "com.aliyuncs.privatelink"
domain_suffix = "aliyuncs.com"

[api]
listen = "127.0.0.1:{api_port}"
max_clock_skew_s = 900

[dns]
listen = "127.0.0.1:{dns_port}"

[store]
path = "{store}"

[[zones]]
id = "cn-hangzhou-a"
name = "Hangzhou Zone A"
gateway_interface = "gwa-prov"
snat_pool = ["100.64.1.10", "100.64.1.11"]

[[zones]]
id = "cn-hangzhou-b"
name = "Hangzhou Zone B"
gateway_interface = "gwb-prov"
snat_pool = ["100.64.2.10", "100.64.2.11"]

[[accounts]]
uid = 1111111111111111
name = "provider"
access_keys = [{{ id = "LTAIproviderkey", secret = "provider-secret-0001" }}]

[[accounts]]
uid = 2222222222222222
name = "consumer1"
access_keys = [{{ id = "LTAIconsumer1key", secret = "consumer1-secret-0001" }}]

[[accounts]]
uid = 3333333333333333
name = "consumer2"
access_keys = [{{ id = "LTAIconsumer2key", secret = "consumer2-secret-0001" }}]

[[vpcs]]
id = "vpc-consumer1"
owner = 2222222222222222
gateway_interface = "gw-c1"

[[vpcs]]
id = "vpc-consumer2"
owner = 3333333333333333
gateway_interface = "gw-c2"

[[vpcs]]
id = "vpc-provider"
owner = 1111111111111111
gateway_interface = "gw-p"

[[vswitches]]
id = "vsw-c1a"
vpc = "vpc-consumer1"
zone = "cn-hangzhou-a"
cidr = "192.168.1.0/24"
ipv6_cidr = "2408:4000:1:1::/64"

[[vswitches]]
id = "vsw-c1b"
vpc = "vpc-consumer1"
zone = "cn-hangzhou-b"
cidr = "192.168.2.0/24"
ipv6_cidr = "2408:4000:1:2::/64"

[[vswitches]]
id = "vsw-c1tiny"
vpc = "vpc-consumer1"
zone = "cn-hangzhou-a"
cidr = "192.168.9.0/29"

[[vswitches]]
id = "vsw-c2a"
vpc = "vpc-consumer2"
zone = "cn-hangzhou-a"
cidr = "192.168.1.0/24"

[[vswitches]]
id = "vsw-c2b"
vpc = "vpc-consumer2"
zone = "cn-hangzhou-b"
cidr = "192.168.2.0/24"

[[vswitches]]
id = "vsw-pa"
vpc = "vpc-provider"
zone = "cn-hangzhou-a"
cidr = "10.0.1.0/24"

[[vswitches]]
id = "vsw-pb"
vpc = "vpc-provider"
zone = "cn-hangzhou-b"
cidr = "10.0.2.0/24"

[[security_groups]]
id = "sg-c1web"
owner = 2222222222222222
vpc = "vpc-consumer1"
rules = [
  {{ priority = 1, protocol = "tcp", ports = [80, 80], source = "192.168.0.0/16", policy = "accept" }},
  {{ priority = 1, protocol = "icmp", source = "0.0.0.0/0", policy = "accept" }},
]

[[security_groups]]
id = "sg-c1all"
owner = 2222222222222222
vpc = "vpc-consumer1"
rules = [{{ priority = 100, protocol = "all", source = "0.0.0.0/0", policy = "accept" }}]

[[security_groups]]
id = "sg-c2all"
owner = 3333333333333333
vpc = "vpc-consumer2"
rules = [{{ priority = 100, protocol = "all", source = "0.0.0.0/0", policy = "accept" }}]

[[load_balancers]]
id = "nlb-prov1"
type = "nlb"
owner = 1111111111111111
dual_stack = true
bandwidth_mbps = 10000
health_check_port = 80
zones = [
  {{ zone = "cn-hangzhou-a", vip = "10.0.1.100", vip6 = "2408:4000:9:1::100" }},
  {{ zone = "cn-hangzhou-b", vip = "10.0.2.100", vip6 = "2408:4000:9:2::100" }},
]

[[load_balancers]]
id = "nlb-prov2"
type = "nlb"
owner = 1111111111111111
bandwidth_mbps = 5000
health_check_port = 80
zones = [
  {{ zone = "cn-hangzhou-a", vip = "10.0.1.101" }},
  {{ zone = "cn-hangzhou-b", vip = "10.0.2.101" }},
]

[[load_balancers]]
id = "nlb-prov3"
type = "nlb"
owner = 1111111111111111
bandwidth_mbps = 5000
health_check_port = 80
zones = [
  {{ zone = "cn-hangzhou-a", vip = "10.0.1.102" }},
  {{ zone = "cn-hangzhou-b", vip = "10.0.2.102" }},
]

[[load_balancers]]
id = "alb-prov1"
type = "alb"
owner = 1111111111111111
bandwidth_mbps = 5000
health_check_port = 80
public = true
zones = [
  {{ zone = "cn-hangzhou-a", vip = "10.0.1.110" }},
  {{ zone = "cn-hangzhou-b", vip = "10.0.2.110" }},
]

[[load_balancers]]
id = "lb-prov1"
type = "clb"
owner = 1111111111111111
bandwidth_mbps = 5120
health_check_port = 80
zones = [
  {{ zone = "cn-hangzhou-a", vip = "10.0.1.120" }},
  {{ zone = "cn-hangzhou-b", vip = "10.0.2.120" }},
]

[[load_balancers]]
id = "lb-prov2"
type = "clb"
owner = 1111111111111111
bandwidth_mbps = 5120
health_check_port = 80
zones = [{{ zone = "cn-hangzhou-a", vip = "10.0.1.121" }}]

[[load_balancers]]
id = "nlb-c1own"
type = "nlb"
owner = 2222222222222222
bandwidth_mbps = 1000
health_check_port = 80
zones = [{{ zone = "cn-hangzhou-a", vip = "192.168.1.200" }}]
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eplinkd_bin() -> pathlib.Path:
    p = pathlib.Path(os.environ.get("EPLINKD_BIN", "target/debug/eplinkd"))
    if not p.is_absolute():
        p = REPO / p
    return p


class Daemon:
    """One eplinkd process on a private inventory and store, on free loopback ports."""

    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.dns_port = free_port()
        self.store = self.workdir / "eplink-state.db"
        self.inventory = self.workdir / "inventory.toml"
        self.inventory.write_text(INVENTORY.format(api_port=self.api_port, dns_port=self.dns_port,
                                                   store=self.store))
        self.log_path = self.workdir / "eplinkd.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    def start(self, timeout: float = 30.0) -> None:
        binary = eplinkd_bin()
        if not binary.exists():
            pytest.fail(f"eplinkd not found at {binary}: build it or set EPLINKD_BIN")
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        # API compatibility only: no XDP program, so parallel daemons never share pinned maps.
        self.proc = subprocess.Popen([str(binary), "--no-dataplane", "--inventory", str(self.inventory)],
                                     cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"eplinkd exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.api_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"eplinkd did not listen on {self.endpoint} within {timeout}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def client(self, account: str, secret: str | None = None, key_id: str | None = None) -> Client:
        ak, sk = KEYS[account] if account in KEYS else (None, None)
        return make_client(self.endpoint, key_id or ak, secret or sk)


def make_client(endpoint: str, key_id: str, secret: str) -> Client:
    return Client(open_api_models.Config(access_key_id=key_id, access_key_secret=secret,
                                         endpoint=endpoint, protocol="http", region_id=REGION))


# ---- assertions -----------------------------------------------------------------------------

def expect_error(code: str, call: Callable[[], object]) -> ClientException:
    """The call fails with a 4xx carrying exactly `code` (and a RequestId)."""
    try:
        result = call()
    except ClientException as e:
        assert e.code == code, f"expected error {code}, got {e.code} ({e.message})"
        assert 400 <= e.status_code < 500, f"{code}: status {e.status_code}"
        assert e.request_id and e.request_id != "None", f"{code}: no RequestId in {e.data}"
        return e
    body = getattr(result, "body", None)
    raise AssertionError(f"expected error {code}, but the call succeeded: "
                         f"{body.to_map() if body is not None else result}")


def wait_for(read: Callable[[], object], want: Callable[[object], bool], allowed: set[str] | None = None,
             state: Callable[[object], str] | None = None, timeout: float = 10.0, what: str = "state"):
    """Poll `read()` until `want(value)`; every observed state must be one of `allowed`."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        value = read()
        if state is not None:
            s = state(value)
            seen.append(s)
            if allowed is not None:
                assert s in allowed, f"{what}: {s!r} is not an API state ({sorted(allowed)})"
        if want(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s; seen {seen[-5:]}")
        time.sleep(0.1)


# ---- common calls (through the SDK) ----------------------------------------------------------

def res(resource_id: str, zone: str, rtype: str | None = None):
    rtype = rtype or resource_type_of(resource_id)
    return models.CreateVpcEndpointServiceRequestResource(resource_id=resource_id, resource_type=rtype,
                                                          zone_id=zone)


def resource_type_of(resource_id: str) -> str:
    if resource_id.startswith("nlb-"):
        return "nlb"
    if resource_id.startswith("alb-"):
        return "alb"
    return "slb"


def create_service(client: Client, resources=(), auto_accept: bool = False, **kw) -> str:
    rtype = kw.pop("service_resource_type", None)
    if rtype is None and resources:
        rtype = resource_type_of(resources[0][0])
    r = client.create_vpc_endpoint_service(models.CreateVpcEndpointServiceRequest(
        region_id=REGION, auto_accept_enabled=auto_accept, service_resource_type=rtype or "nlb",
        resource=[res(rid, zone) for rid, zone in resources] or None, **kw))
    sid = r.body.service_id
    assert sid and sid.startswith("epsrv-"), r.body.to_map()
    wait_for(lambda: get_service(client, sid), lambda b: b.service_status == "Active",
             SERVICE_STATES, lambda b: b.service_status, what=f"service {sid}")
    return sid


def get_service(client: Client, sid: str):
    return client.get_vpc_endpoint_service_attribute(models.GetVpcEndpointServiceAttributeRequest(
        region_id=REGION, service_id=sid)).body


def whitelist(client: Client, sid: str, uid: int) -> None:
    client.add_user_to_vpc_endpoint_service(models.AddUserToVpcEndpointServiceRequest(
        region_id=REGION, service_id=sid, user_id=uid))


def zone(zone_id: str, vsw: str, ip: str | None = None):
    return models.CreateVpcEndpointRequestZone(zone_id=zone_id, v_switch_id=vsw, ip=ip)


def create_endpoint(client: Client, sid: str, zones=None, vpc: str = "vpc-consumer1",
                    sgs=("sg-c1all",), **kw) -> str:
    if zones is None:
        zones = [zone(ZA, "vsw-c1a"), zone(ZB, "vsw-c1b")]
    r = client.create_vpc_endpoint(models.CreateVpcEndpointRequest(
        region_id=REGION, service_id=sid, vpc_id=vpc, security_group_id=list(sgs), zone=zones, **kw))
    eid = r.body.endpoint_id
    assert eid and eid.startswith("ep-"), r.body.to_map()
    wait_for(lambda: get_endpoint(client, eid), lambda b: b.endpoint_status == "Active",
             ENDPOINT_STATES, lambda b: b.endpoint_status, what=f"endpoint {eid}")
    return eid


def get_endpoint(client: Client, eid: str):
    return client.get_vpc_endpoint_attribute(models.GetVpcEndpointAttributeRequest(
        region_id=REGION, endpoint_id=eid)).body


def connection(provider: Client, sid: str, eid: str):
    body = provider.list_vpc_endpoint_connections(models.ListVpcEndpointConnectionsRequest(
        region_id=REGION, service_id=sid, endpoint_id=eid)).body
    conns = [c for c in body.connections if c.endpoint_id == eid]
    assert len(conns) == 1, f"connection {sid}/{eid}: {body.to_map()}"
    c = conns[0]
    assert c.connection_status in CONNECTION_STATES, c.to_map()
    for z in c.zones:
        assert z.zone_status in ZONE_STATES, z.to_map()
    return c


def zone_of(conn, zone_id: str):
    zs = [z for z in conn.zones if z.zone_id == zone_id]
    assert len(zs) == 1, f"zone {zone_id} in {conn.to_map()}"
    return zs[0]


def wait_connection(provider: Client, sid: str, eid: str, status: str, timeout: float = 10.0):
    return wait_for(lambda: connection(provider, sid, eid), lambda c: c.connection_status == status,
                    CONNECTION_STATES, lambda c: c.connection_status, timeout,
                    what=f"connection {eid} -> {status}")


def wait_zone(provider: Client, sid: str, eid: str, zone_id: str, status: str, timeout: float = 10.0):
    return wait_for(lambda: connection(provider, sid, eid),
                    lambda c: zone_of(c, zone_id).zone_status == status, ZONE_STATES,
                    lambda c: zone_of(c, zone_id).zone_status, timeout,
                    what=f"zone {zone_id} of {eid} -> {status}")


def enable_connection(provider: Client, sid: str, eid: str, bandwidth: int | None = None):
    return provider.enable_vpc_endpoint_connection(models.EnableVpcEndpointConnectionRequest(
        region_id=REGION, service_id=sid, endpoint_id=eid, bandwidth=bandwidth))


def disable_connection(provider: Client, sid: str, eid: str):
    return provider.disable_vpc_endpoint_connection(models.DisableVpcEndpointConnectionRequest(
        region_id=REGION, service_id=sid, endpoint_id=eid))


def disable_zone(provider: Client, sid: str, eid: str, zone_id: str):
    return provider.disable_vpc_endpoint_zone_connection(models.DisableVpcEndpointZoneConnectionRequest(
        region_id=REGION, service_id=sid, endpoint_id=eid, zone_id=zone_id))


def enable_zone(provider: Client, sid: str, eid: str, zone_id: str):
    return provider.enable_vpc_endpoint_zone_connection(models.EnableVpcEndpointZoneConnectionRequest(
        region_id=REGION, service_id=sid, endpoint_id=eid, zone_id=zone_id))


def set_allocation(provider: Client, sid: str, eid: str, zone_id: str, mode: str,
                   resource_id: str | None = None):
    return provider.update_vpc_endpoint_zone_connection_resource_attribute(
        models.UpdateVpcEndpointZoneConnectionResourceAttributeRequest(
            region_id=REGION, service_id=sid, endpoint_id=eid, zone_id=zone_id,
            resource_allocate_mode=mode, resource_id=resource_id,
            resource_type=resource_type_of(resource_id) if resource_id else None))


def list_resources(provider: Client, sid: str):
    return provider.list_vpc_endpoint_service_resources(models.ListVpcEndpointServiceResourcesRequest(
        region_id=REGION, service_id=sid)).body.resources


def set_auto_allocated(provider: Client, sid: str, rid: str, zone_id: str, enabled: bool):
    return provider.update_vpc_endpoint_service_resource_attribute(
        models.UpdateVpcEndpointServiceResourceAttributeRequest(
            region_id=REGION, service_id=sid, resource_id=rid, zone_id=zone_id,
            auto_allocated_enabled=enabled))


def detach(provider: Client, sid: str, rid: str, zone_id: str):
    return provider.detach_resource_from_vpc_endpoint_service(
        models.DetachResourceFromVpcEndpointServiceRequest(
            region_id=REGION, service_id=sid, resource_id=rid, zone_id=zone_id,
            resource_type=resource_type_of(rid)))


def attach(provider: Client, sid: str, rid: str, zone_id: str):
    return provider.attach_resource_to_vpc_endpoint_service(
        models.AttachResourceToVpcEndpointServiceRequest(
            region_id=REGION, service_id=sid, resource_id=rid, zone_id=zone_id,
            resource_type=resource_type_of(rid)))


def delete_service(provider: Client, sid: str):
    return provider.delete_vpc_endpoint_service(models.DeleteVpcEndpointServiceRequest(
        region_id=REGION, service_id=sid))


def services_by_end_user(client: Client, **kw):
    out, token = [], None
    for _ in range(100):
        body = client.list_vpc_endpoint_services_by_end_user(
            models.ListVpcEndpointServicesByEndUserRequest(region_id=REGION, next_token=token, **kw)).body
        out.extend(body.services)
        token = body.next_token
        if not token:
            return out
    raise AssertionError("ListVpcEndpointServicesByEndUser: paging does not end")
