#!/usr/bin/env python3
"""Generate the per-operation tables of docs/api-reference.md from the installed SDK.

Reads the official SDK's own source (client.py and models/) with `ast`, so the tables are
exactly what the SDK sends and what its `from_map` reads. Usage:

    python tests/sdk/gen_reference.py > /tmp/ops.md
"""
from __future__ import annotations

import ast
import inspect
import re
import sys

import alibabacloud_privatelink20200415 as pkg
from alibabacloud_privatelink20200415 import client as client_mod
from alibabacloud_privatelink20200415 import models

OPERATIONS = [
    ("Services", ["CreateVpcEndpointService", "UpdateVpcEndpointServiceAttribute",
                  "DeleteVpcEndpointService", "GetVpcEndpointServiceAttribute",
                  "ListVpcEndpointServices", "ListVpcEndpointServicesByEndUser"]),
    ("Whitelist", ["AddUserToVpcEndpointService", "RemoveUserFromVpcEndpointService",
                   "ListVpcEndpointServiceUsers"]),
    ("Service resources", ["AttachResourceToVpcEndpointService",
                           "DetachResourceFromVpcEndpointService",
                           "UpdateVpcEndpointServiceResourceAttribute",
                           "ListVpcEndpointServiceResources"]),
    ("Endpoints", ["CreateVpcEndpoint", "UpdateVpcEndpointAttribute", "DeleteVpcEndpoint",
                   "GetVpcEndpointAttribute", "ListVpcEndpoints", "AddZoneToVpcEndpoint",
                   "RemoveZoneFromVpcEndpoint", "ListVpcEndpointZones",
                   "AttachSecurityGroupToVpcEndpoint", "DetachSecurityGroupFromVpcEndpoint",
                   "ListVpcEndpointSecurityGroups"]),
    ("Connections", ["EnableVpcEndpointConnection", "DisableVpcEndpointConnection",
                     "UpdateVpcEndpointConnectionAttribute", "ListVpcEndpointConnections",
                     "EnableVpcEndpointZoneConnection", "DisableVpcEndpointZoneConnection",
                     "UpdateVpcEndpointZoneConnectionResourceAttribute"]),
    ("Inventory", ["DescribeRegions", "DescribeZones"]),
]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


CLIENT_SRC = inspect.getsource(client_mod)
CLIENT_AST = ast.parse(CLIENT_SRC)


def query_keys(op: str) -> list[tuple[str, str]]:
    """(wire key, request attribute) in the order the SDK fills `query`."""
    fname = snake(op) + "_with_options"
    for node in ast.walk(CLIENT_AST):
        if isinstance(node, ast.FunctionDef) and node.name == fname:
            out, seen = [], set()
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Assign) and isinstance(sub.targets[0], ast.Subscript)
                        and isinstance(sub.targets[0].value, ast.Name)):
                    target = sub.targets[0].value.id
                    key = sub.targets[0].slice.value
                    if target != "query":
                        raise SystemExit(f"{op}: parameter {key} goes to {target}, not query")
                    attr = sub.value.attr
                    if key not in seen:
                        seen.add(key)
                        out.append((key, attr))
            return out
    raise SystemExit(f"no {fname} in client")


_SRC_CACHE: dict[str, tuple[list[str], ast.Module]] = {}


def class_info(cls) -> dict:
    """attr -> {key, type, comment, required} for a DaraModel class."""
    src_file = inspect.getsourcefile(cls)
    if src_file not in _SRC_CACHE:
        text = open(src_file, encoding="utf-8").read()
        _SRC_CACHE[src_file] = (text.splitlines(), ast.parse(text))
    lines, tree = _SRC_CACHE[src_file]
    cdef = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    init = next(n for n in cdef.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    types = {a.arg: ast.unparse(a.annotation) for a in init.args.args[1:]}
    info: dict[str, dict] = {}
    prev_end = init.body[0].lineno - 1
    # comments between statements of __init__
    first_stmt_line = init.body[0].lineno
    prev_end = first_stmt_line - 1
    while prev_end > 0 and lines[prev_end - 1].strip().startswith("#"):
        prev_end -= 1
    for stmt in init.body:
        comment_lines = [l.strip()[1:].strip() for l in lines[prev_end:stmt.lineno - 1]
                         if l.strip().startswith("#")]
        prev_end = stmt.end_lineno
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Attribute):
            attr = stmt.targets[0].attr
            info[attr] = {"type": types.get(attr, "?"), "comment": comment_lines,
                          "required": any(c.strip() == "This parameter is required." for c in comment_lines)}
    tm = next(n for n in cdef.body if isinstance(n, ast.FunctionDef) and n.name == "to_map")
    tm_src = "\n".join(lines[tm.lineno - 1:tm.end_lineno])
    for m in re.finditer(r"if self\.(\w+) is not None:\s*\n\s*result\['([^']+)'\]", tm_src):
        info[m.group(1)]["key"] = m.group(2)
    for m in re.finditer(r"result\['([^']+)'\] = (?:\[\]|dict\(\))\s*\n\s*if self\.(\w+) is not None", tm_src):
        info[m.group(2)]["key"] = m.group(1)
    for attr, d in info.items():
        if "key" not in d:
            raise SystemExit(f"{cls.__name__}.{attr}: no key found")
    return info


def model(name: str):
    return getattr(models, name)


def describe(type_str: str) -> tuple[str, str | None, bool]:
    """(display type, nested model class name or None, is_list)."""
    t = type_str.replace("main_models.", "")
    m = re.fullmatch(r"List\[(\w+)\]", t)
    if m:
        inner = m.group(1)
        if inner in ("str", "int", "bool", "float"):
            return f"list<{prim(inner)}>", None, True
        return "list<object>", inner, True
    if t in ("str", "int", "bool", "float"):
        return prim(t), None, False
    if re.fullmatch(r"\w+", t) and hasattr(models, t):
        return "object", t, False
    if t.startswith("Dict"):
        return "map", None, False
    return t, None, False


def prim(t: str) -> str:
    return {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}[t]


def enum_values(comment: list[str]) -> str:
    vals = []
    for c in comment:
        m = re.match(r"^(?:-\s*)?\*\*([^*]+)\*\*\s*(?:[:：(]|$)", c.strip())
        if m and m.group(1) not in vals and len(m.group(1)) < 40:
            vals.append(m.group(1))
    return ", ".join(f"`{v}`" for v in vals)


def summary(comment: list[str]) -> str:
    s = comment[0] if comment else ""
    s = re.sub(r"\s*Valid values:?\s*$", "", s)
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)
    s = s.replace("|", "\\|")
    if len(s) > 140:
        s = s[:137] + "..."
    return s


def request_rows(op: str) -> list[tuple[str, str, str, str]]:
    rows = []
    req_cls = model(op + "Request")
    info = class_info(req_cls)
    for key, attr in query_keys(op):
        d = info[attr]
        typ, nested, is_list = describe(d["type"])
        req = "yes" if d["required"] else ""
        note = summary(d["comment"])
        ev = enum_values(d["comment"])
        if ev:
            note += f" Values: {ev}."
        if is_list and nested is None:
            rows.append((f"{key}.N", typ.replace("list<", "").rstrip(">"), req,
                         f"list, N = 1, 2, ... (SDK field `{attr}`: {typ}). " + note))
        elif nested:
            sub = class_info(model(nested))
            prefix = f"{key}.N" if is_list else key
            rows.append((prefix, typ, req, note))
            for sattr, sd in sub.items():
                styp, snested, slist = describe(sd["type"])
                snote = summary(sd["comment"])
                sev = enum_values(sd["comment"])
                if sev:
                    snote += f" Values: {sev}."
                skey = f"{prefix}.{sd['key']}" + (".N" if slist else "")
                rows.append((skey, styp.replace("list<", "").rstrip(">") if slist else styp,
                             "yes" if sd["required"] else "", snote))
        else:
            rows.append((key, typ, req, note))
    return rows


def response_rows(cls_name: str, prefix: str = "", depth: int = 0) -> list[tuple[str, str, str]]:
    rows = []
    for attr, d in class_info(model(cls_name)).items():
        typ, nested, is_list = describe(d["type"])
        path = f"{prefix}{d['key']}"
        note = summary(d["comment"])
        ev = enum_values(d["comment"])
        if ev:
            note += f" Values: {ev}."
        rows.append((path + ("[]" if is_list else ""), typ, note))
        if nested:
            rows.extend(response_rows(nested, path + ("[]." if is_list else "."), depth + 1))
    return rows


def main() -> None:
    out = sys.stdout
    for group, ops in OPERATIONS:
        out.write(f"\n### {group}\n")
        for op in ops:
            out.write(f"\n#### {op}\n\n")
            out.write("Request (all in the query string; `x-acs-action: " + op + "`):\n\n")
            out.write("| wire name | type | req. | meaning |\n|---|---|---|---|\n")
            for k, t, r, n in request_rows(op):
                out.write(f"| `{k}` | {t} | {r} | {n} |\n")
            out.write("\nResponse body (JSON):\n\n")
            out.write("| field | type | meaning |\n|---|---|---|\n")
            for p, t, n in response_rows(op + "ResponseBody"):
                out.write(f"| `{p}` | {t} | {n} |\n")


if __name__ == "__main__":
    main()
