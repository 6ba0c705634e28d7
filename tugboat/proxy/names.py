"""Chain names and fixed rule text of the service proxy (upstream kube-proxy's, re-prefixed).

Every chain we own starts with `TUGBOAT-` and is either one of the fixed chains below or a
per-service/per-endpoint chain `TUGBOAT-{SVC,SVL,EXT,FW,SEP}-<16 base32 chars>`. Cleanup deletes
exactly these (`is_ours`), never other `TUGBOAT-*` chains (the node agent's TUGBOAT-MASQ-<bridge>
chains live in the same tables). The hash is upstream's: first 16 chars of base32(sha256(
servicePortName + protocol [+ endpoint])), so names are stable across restarts and 28 chars max.
"""

from __future__ import annotations

import base64
import hashlib
import re

PREFIX = "TUGBOAT-"
SERVICES = "TUGBOAT-SERVICES"
EXTERNAL_SERVICES = "TUGBOAT-EXTERNAL-SERVICES"
NODEPORTS = "TUGBOAT-NODEPORTS"
POSTROUTING = "TUGBOAT-POSTROUTING"
MARK_MASQ = "TUGBOAT-MARK-MASQ"
FORWARD = "TUGBOAT-FORWARD"
PROXY_FIREWALL = "TUGBOAT-PROXY-FIREWALL"
FIREWALL = "TUGBOAT-FIREWALL"

MASQ_MARK = "0x4000"

NAT_BASE = (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)
FILTER_BASE = (SERVICES, EXTERNAL_SERVICES, FORWARD, NODEPORTS, PROXY_FIREWALL, FIREWALL)

_DYNAMIC = re.compile(r"^TUGBOAT-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}$")
_FIXED = frozenset(NAT_BASE) | frozenset(FILTER_BASE)


def is_ours(chain: str) -> bool:
    return chain in _FIXED or bool(_DYNAMIC.match(chain))


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_chain(spn: str, proto: str) -> str:
    return "TUGBOAT-SVC-" + _hash(spn + proto)


def svl_chain(spn: str, proto: str) -> str:
    return "TUGBOAT-SVL-" + _hash(spn + proto)


def ext_chain(spn: str, proto: str) -> str:
    return "TUGBOAT-EXT-" + _hash(spn + proto)


def fw_chain(spn: str, proto: str) -> str:
    return "TUGBOAT-FW-" + _hash(spn + proto)


def sep_chain(spn: str, proto: str, endpoint: str) -> str:
    return "TUGBOAT-SEP-" + _hash(spn + proto + endpoint)


def jump_rules(localhost_nodeports: bool) -> list[tuple[str, str, str]]:
    """(table, builtin chain, rule text as iptables-save prints it) of every jump we own, in the
    order they are inserted (each goes to position 1 of its chain, like upstream's Prepend)."""
    new = "-m conntrack --ctstate NEW"
    out = [
        ("nat", "PREROUTING", f'-m comment --comment "kubernetes service portals" -j {SERVICES}'),
        ("nat", "OUTPUT", f'-m comment --comment "kubernetes service portals" -j {SERVICES}'),
        ("nat", "POSTROUTING", f'-m comment --comment "kubernetes postrouting rules" -j {POSTROUTING}'),
        ("filter", "INPUT", f'{new} -m comment --comment "kubernetes load balancer firewall" -j {PROXY_FIREWALL}'),
        ("filter", "INPUT", f'-m comment --comment "kubernetes health check service ports" -j {NODEPORTS}'),
        ("filter", "INPUT",
         f'{new} -m comment --comment "kubernetes externally-visible service portals" -j {EXTERNAL_SERVICES}'),
        ("filter", "FORWARD", f'{new} -m comment --comment "kubernetes load balancer firewall" -j {PROXY_FIREWALL}'),
        ("filter", "FORWARD", f'-m comment --comment "kubernetes forwarding rules" -j {FORWARD}'),
        ("filter", "FORWARD", f'{new} -m comment --comment "kubernetes service portals" -j {SERVICES}'),
        ("filter", "FORWARD",
         f'{new} -m comment --comment "kubernetes externally-visible service portals" -j {EXTERNAL_SERVICES}'),
        ("filter", "OUTPUT", f'{new} -m comment --comment "kubernetes load balancer firewall" -j {PROXY_FIREWALL}'),
        ("filter", "OUTPUT", f'{new} -m comment --comment "kubernetes service portals" -j {SERVICES}'),
    ]
    if localhost_nodeports:
        out += [("filter", "INPUT", f"-j {FIREWALL}"), ("filter", "OUTPUT", f"-j {FIREWALL}")]
    return out
