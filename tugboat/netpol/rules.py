"""NetworkPolicy → iptables chains in the filter table (pure; no I/O).

Layout (kube-router's, as k3s runs it, re-prefixed; names ≤ 28 characters):

  FORWARD (rule 1) → TUGBOAT-NETPOL-FWD   traffic routed or bridged through the node
  INPUT   (rule 1) → TUGBOAT-NETPOL-IN    local pods talking to the node itself (egress)
  TUGBOAT-NETPOL-FWD  RELATED,ESTABLISHED → RETURN (replies of allowed connections);
                      `-s <local pod>` → TUGBOAT-NPE-<hash> (egress-isolated pods);
                      `-d <local pod>` → TUGBOAT-NPI-<hash> (ingress-isolated pods)
  TUGBOAT-NPI/NPE-*   clear mark 0x10000; (ingress) traffic from the node itself → RETURN;
                      each allow clause sets the mark; marked → RETURN; else REJECT
  TUGBOAT-NPB-*       an ipBlock with `except`: `-s/-d except` → RETURN, `-s/-d cidr` → mark

Our chains only ever RETURN or REJECT: traffic that no policy isolates goes on through the
rest of FORWARD (the service proxy's and the pod bridge's rules) untouched. A packet between
two pods of this node passes both the sender's egress and the receiver's ingress chain in one
traversal (br_netfilter), and across nodes each node checks its own side.
"""

from __future__ import annotations

import base64
import hashlib

from tugboat.netpol.model import Allow, PodRules, PortMatch

PREFIX = "TUGBOAT-NETPOL-"
FWD = "TUGBOAT-NETPOL-FWD"
IN = "TUGBOAT-NETPOL-IN"
MARK = "0x10000"
BASE = (FWD, IN)
JUMPS = (("FORWARD", FWD, "tugboat network policies"), ("INPUT", IN, "tugboat network policies (to the node)"))
Ruleset = dict[str, list[str]]  # chain (filter table) → rule lines as iptables-restore reads them


def is_ours(chain: str) -> bool:
    return chain in BASE or (chain.startswith(("TUGBOAT-NPI-", "TUGBOAT-NPE-", "TUGBOAT-NPB-")) and len(chain) == 28)


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def pod_chain(direction: str, pod_uid: str) -> str:
    return f"TUGBOAT-NP{'I' if direction == 'ingress' else 'E'}-" + _hash(pod_uid)


def _c(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'")[:240] + '"'


def jump_rule(chain: str, comment: str) -> str:
    return f"{_c(comment)} -j {chain}"


def _port_args(pm: PortMatch) -> str:
    proto = pm.protocol.lower()
    if pm.port is None:
        return f"-p {proto}"
    dport = f"{pm.port}:{pm.end_port}" if pm.end_port else str(pm.port)
    return f"-p {proto} -m {proto} --dport {dport}"


def _allow_lines(chain: str, allow: Allow, peer_flag: str, rs: Ruleset) -> list[str]:
    setmark = f"-j MARK --set-xmark {MARK}/{MARK}"
    cm = _c(f"policy {allow.policy}")
    ports = [_port_args(p) for p in allow.ports] if allow.ports is not None else [""]
    if allow.ports is not None and not allow.ports and not allow.peer_ports:
        return []  # only named ports this pod does not have: allows nothing
    lines: list[str] = []
    for ip, pms in sorted(allow.peer_ports.items()):
        lines += [f"-A {chain} {peer_flag} {ip}/32 {_port_args(p)} {cm} {setmark}" for p in pms]
    if allow.peer_ports or (allow.peer_ips is not None and not allow.peer_ips and not allow.blocks):
        return lines
    if allow.peer_ips is None:
        return lines + [f"-A {chain} {p} {cm} {setmark}".replace("  ", " ") for p in ports]
    for ip in allow.peer_ips:
        lines += [f"-A {chain} {peer_flag} {ip}/32 {p} {cm} {setmark}".replace("  ", " ") for p in ports]
    for cidr, excepts in allow.blocks:
        if not excepts:
            lines += [f"-A {chain} {peer_flag} {cidr} {p} {cm} {setmark}".replace("  ", " ") for p in ports]
            continue
        sub = "TUGBOAT-NPB-" + _hash(f"{chain}|{peer_flag}|{cidr}|{','.join(excepts)}|{','.join(ports)}")
        if sub not in rs:
            rs[sub] = [f"-A {sub} {peer_flag} {x} -j RETURN" for x in excepts]
            rs[sub] += [f"-A {sub} {peer_flag} {cidr} {p} {cm} {setmark}".replace("  ", " ") for p in ports]
        lines.append(f"-A {chain} {peer_flag} {cidr} -j {sub}")
    return lines


def _pod_chain(rs: Ruleset, chain: str, allows: list[Allow], ingress: bool, pod_key: str) -> None:
    lines = [f"-A {chain} -j MARK --set-xmark 0x0/{MARK}"]
    if ingress:
        lines.append(f"-A {chain} -m addrtype --src-type LOCAL {_c('traffic from the node is allowed')} -j RETURN")
    for a in allows:
        lines += _allow_lines(chain, a, "-s" if ingress else "-d", rs)
    direction = "ingress to" if ingress else "egress from"
    lines.append(f"-A {chain} -m mark --mark {MARK}/{MARK} -j RETURN")
    lines.append(f"-A {chain} {_c(f'{direction} {pod_key} not allowed by network policy')} "
                 f"-j REJECT --reject-with icmp-port-unreachable")
    rs[chain] = lines


def build(pods: list[PodRules]) -> Ruleset:
    """Every chain of ours with its rules (FWD/IN always exist, possibly empty)."""
    est = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    rs: Ruleset = {FWD: [f"-A {FWD} {est}"], IN: [f"-A {IN} {est}"]}
    for pr in sorted(pods, key=lambda p: p.pod.key):
        ip = pr.pod.ip + "/32"
        if pr.egress is not None:
            ch = pod_chain("egress", pr.pod.uid)
            _pod_chain(rs, ch, pr.egress, False, pr.pod.key)
            rs[FWD].append(f"-A {FWD} -s {ip} {_c(f'egress of {pr.pod.key}')} -j {ch}")
            rs[IN].append(f"-A {IN} -s {ip} {_c(f'egress of {pr.pod.key}')} -j {ch}")
        if pr.ingress is not None:
            ch = pod_chain("ingress", pr.pod.uid)
            _pod_chain(rs, ch, pr.ingress, True, pr.pod.key)
            rs[FWD].append(f"-A {FWD} -d {ip} {_c(f'ingress of {pr.pod.key}')} -j {ch}")
    return rs


def render(desired: Ruleset, applied: Ruleset, existing: set[str], fix_jumps: list[tuple[str, str, int]]) -> str:
    """iptables-restore input (filter table, --noflush) turning what is there into `desired`:
    changed chains rewritten, chains of ours no longer wanted deleted, and each jump in
    `fix_jumps` ((builtin chain, rule text, copies there now)) deleted and put back at rule 1,
    all in one transaction (never a moment without enforcement)."""
    write = sorted(c for c in desired if desired[c] != applied.get(c) or c not in existing)
    gone = sorted((existing | set(applied)) - set(desired))
    if not write and not gone and not fix_jumps:
        return ""
    out = ["*filter"]
    out += [f":{c} - [0:0]" for c in write + gone]
    for c in write:
        out += desired[c]
    for builtin, rule, copies in fix_jumps:
        out += [f"-D {builtin} {rule}"] * copies
        out.append(f"-I {builtin} 1 {rule}")
    out += [f"-X {c}" for c in gone]
    out.append("COMMIT")
    return "\n".join(out) + "\n"
