#!/usr/bin/env python3
"""Write control/tests/data/acs3_vectors.json: ACS3-HMAC-SHA256 vectors made by the SDK itself.

Every vector is a real SDK call (`Client.<operation>(...)`) whose date and nonce are pinned and
whose HTTP send is replaced by a capture, so the request, its headers and its Authorization come
from the SDK's own code (alibabacloud_tea_openapi.utils). The canonical request and string to sign
are rebuilt with the SDK's own helpers (`get_canonical_query_string`, `get_canonicalized_headers`)
and checked against the SDK's Authorization header before they are written.

    python tests/sdk/make_vectors.py [OUT]     # default control/tests/data/acs3_vectors.json
"""
from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
import sys
from urllib.parse import parse_qsl, urlsplit

from alibabacloud_privatelink20200415 import models
from alibabacloud_privatelink20200415.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi import utils as oa_utils
from darabonba.core import DaraCore
from darabonba.response import DaraResponse

import alibabacloud_privatelink20200415 as pl_pkg

ACCESS_KEY_ID = "LTAIvectorkey0001"
ACCESS_KEY_SECRET = "vector-secret-0001"
ENDPOINT = "127.0.0.1:8080"
ALGORITHM = "ACS3-HMAC-SHA256"

_pinned = {"date": None, "nonce": None}
_captured = []


def _fake_do_action(request, runtime_option=None):
    _captured.append(request)
    resp = DaraResponse()
    resp.status_code = 200
    resp.status_message = "OK"
    resp.headers = {"content-type": "application/json;charset=utf-8"}
    resp.body = json.dumps({"RequestId": "00000000-0000-0000-0000-000000000000"}).encode()
    return resp


def install_capture() -> None:
    oa_utils.Utils.get_timestamp = staticmethod(lambda: _pinned["date"])
    oa_utils.Utils.get_nonce = staticmethod(lambda: _pinned["nonce"])
    DaraCore.do_action = staticmethod(_fake_do_action)


def vectors():
    """(name, description, method name, request model) — each a different shape of request."""
    m = models
    return [
        ("describe_regions_no_params", "no query at all: the canonical query string is empty",
         "describe_regions", m.DescribeRegionsRequest()),
        ("describe_zones_region", "one plain parameter",
         "describe_zones", m.DescribeZonesRequest(region_id="cn-hangzhou")),
        ("create_service_resources_list",
         "list of objects (Resource.N.*), booleans (sent as True/False), a description with spaces, "
         "unicode and reserved characters",
         "create_vpc_endpoint_service",
         m.CreateVpcEndpointServiceRequest(
             region_id="cn-hangzhou", auto_accept_enabled=False, zone_affinity_enabled=True,
             payer="Endpoint", address_ip_version="IPv4", service_resource_type="nlb",
             service_description="Mon service é 日本 a+b=c&d/e*f~g%h (test) !'",
             client_token="0c593ea1-3bea-11e9-b96b-88e9fe637760",
             resource=[
                 m.CreateVpcEndpointServiceRequestResource(
                     resource_id="nlb-prov1", resource_type="nlb", zone_id="cn-hangzhou-a"),
                 m.CreateVpcEndpointServiceRequestResource(
                     resource_id="nlb-prov1", resource_type="nlb", zone_id="cn-hangzhou-b"),
             ])),
        ("create_endpoint_zones_and_sgs",
         "list of scalars (SecurityGroupId.N), list of objects with a lower-case key (Zone.N.ip), "
         "an integer, a name with spaces",
         "create_vpc_endpoint",
         m.CreateVpcEndpointRequest(
             region_id="cn-hangzhou", service_id="epsrv-abcdefghij0123456789",
             vpc_id="vpc-consumer1", endpoint_name="my endpoint 01",
             security_group_id=["sg-c1web", "sg-c1all"], zone_private_ip_address_count=1,
             zone=[
                 m.CreateVpcEndpointRequestZone(zone_id="cn-hangzhou-a", v_switch_id="vsw-c1a",
                                                ip="192.168.1.10"),
                 m.CreateVpcEndpointRequestZone(zone_id="cn-hangzhou-b", v_switch_id="vsw-c1b"),
             ])),
        ("add_user_uid_and_arn", "an int64 parameter and a value that is just '*'",
         "add_user_to_vpc_endpoint_service",
         m.AddUserToVpcEndpointServiceRequest(
             region_id="cn-hangzhou", service_id="epsrv-abcdefghij0123456789",
             user_id=2222222222222222, user_arn="*", dry_run=True)),
        ("update_service_empty_value", "a parameter with an empty value (canonical form 'Key=')",
         "update_vpc_endpoint_service_attribute",
         m.UpdateVpcEndpointServiceAttributeRequest(
             region_id="cn-hangzhou", service_id="epsrv-abcdefghij0123456789",
             service_description="", connect_bandwidth=3072)),
        ("list_services_paging", "paging parameters; a NextToken with '=', '/' and '+'",
         "list_vpc_endpoint_services",
         m.ListVpcEndpointServicesRequest(
             region_id="cn-hangzhou", max_results=1, next_token="Zm9v/YmFy+YmF6==")),
        ("enable_zone_connection", "the usual provider write",
         "enable_vpc_endpoint_zone_connection",
         m.EnableVpcEndpointZoneConnectionRequest(
             region_id="cn-hangzhou", service_id="epsrv-abcdefghij0123456789",
             endpoint_id="ep-abcdefghij0123456789", zone_id="cn-hangzhou-a")),
    ]


def canonical(request, payload_hex: str) -> tuple[str, str, str]:
    """Canonical request, signed headers and string to sign, with the SDK's helpers."""
    headers = {k: v for k, v in request.headers.items() if k != "Authorization"}
    canon_query = oa_utils.get_canonical_query_string(request.query)
    canon_headers, signed = oa_utils.get_canonicalized_headers(headers)
    canonical_request = (f"{request.method}\n{request.pathname or '/'}\n{canon_query}\n"
                         f"{canon_headers}\n{signed}\n{payload_hex}")
    sts = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return canonical_request, signed, sts


def main() -> None:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                       pathlib.Path(__file__).resolve().parents[2] / "control/tests/data/acs3_vectors.json")
    install_capture()
    client = Client(open_api_models.Config(
        access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, endpoint=ENDPOINT,
        protocol="http", region_id="cn-hangzhou"))
    result = []
    for i, (name, desc, method, req) in enumerate(vectors()):
        _pinned["date"] = f"2026-12-04T12:{i:02d}:00Z"
        _pinned["nonce"] = hashlib.md5(name.encode()).hexdigest()
        _captured.clear()
        getattr(client, method)(req)
        (request,) = _captured
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        payload = hashlib.sha256(body).hexdigest()
        assert request.headers["x-acs-content-sha256"] == payload
        canonical_request, signed, sts = canonical(request, payload)
        signature = hmac.new(ACCESS_KEY_SECRET.encode(), sts.encode(), hashlib.sha256).hexdigest()
        expected_auth = f"{ALGORITHM} Credential={ACCESS_KEY_ID},SignedHeaders={signed},Signature={signature}"
        # the SDK's own Authorization must equal the one rebuilt from the SDK's helpers
        assert request.headers["Authorization"] == expected_auth, (name, request.headers["Authorization"])
        url = DaraCore.compose_url(request)
        target = url.split(ENDPOINT, 1)[1]
        wire_query = urlsplit(url).query
        assert dict(parse_qsl(wire_query, keep_blank_values=True)) == request.query
        result.append({
            "name": name,
            "description": desc,
            "access_key_id": ACCESS_KEY_ID,
            "access_key_secret": ACCESS_KEY_SECRET,
            "method": request.method,
            "path": request.pathname,
            "request_target": target,
            "query": request.query,
            "headers": {k: v for k, v in request.headers.items()},
            "body": body.decode(),
            "canonical_request": canonical_request,
            "signed_headers": signed,
            "string_to_sign": sts,
            "signature": signature,
            "authorization": request.headers["Authorization"],
        })
    doc = {
        "about": "ACS3-HMAC-SHA256 vectors produced by the official SDK's own signing code "
                 "(tests/sdk/make_vectors.py); see docs/api-reference.md section 2. 'query' is "
                 "the decoded parameter map; 'request_target' is what goes on the request line; "
                 "'headers' are all headers the SDK set (requests adds Accept-Encoding and "
                 "Content-Length, unsigned).",
        "sdk": {"alibabacloud-privatelink20200415": pl_pkg.__version__},
        "algorithm": ALGORITHM,
        "vectors": result,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(result)} vectors to {out}")


if __name__ == "__main__":
    main()
