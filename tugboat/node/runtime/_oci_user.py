"""Resolve the uid/gid/supplementary groups a container runs as.

Precedence as in the kubelet + containerd: container securityContext.runAsUser/runAsGroup,
then the pod's, then the image's USER ("uid", "uid:gid", "name", "name:group", looked up in
the *container's* /etc/passwd and /etc/group, never the host's). Supplementary groups: the
user's groups from the image's /etc/group, the pod's supplementalGroups and fsGroup.
runAsNonRoot is enforced here with the kubelet's messages.
"""

from __future__ import annotations

import os
from typing import Any

from tugboat.node.runtime._oci import SpecError


def _read_db(rootfs: str, name: str) -> list[list[str]]:
    # the file is read from inside the rootfs; refuse to follow a symlink out of it
    path = os.path.join(rootfs, "etc", name)
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(rootfs) + os.sep):
        return []
    try:
        with open(real) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def _lookup_user(rootfs: str, name: str) -> tuple[int, int]:
    for fields in _read_db(rootfs, "passwd"):
        if len(fields) >= 4 and fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise SpecError(f"unable to find user {name}: no matching entries in passwd file")


def _lookup_group(rootfs: str, name: str) -> int:
    if name.isdigit():
        return int(name)
    for fields in _read_db(rootfs, "group"):
        if len(fields) >= 3 and fields[0] == name:
            return int(fields[2])
    raise SpecError(f"unable to find group {name}: no matching entries in group file")


def _user_groups(rootfs: str, user: str, uid: int, primary: int) -> list[int]:
    names = {user}
    for fields in _read_db(rootfs, "passwd"):
        if len(fields) >= 3 and fields[2] == str(uid):
            names.add(fields[0])
    out = []
    for fields in _read_db(rootfs, "group"):
        if len(fields) >= 4 and set(fields[3].split(",")) & names and int(fields[2]) != primary:
            out.append(int(fields[2]))
    return out


def resolve(rootfs: str, image_user: str, container_sc: dict[str, Any], pod_sc: dict[str, Any],
            container_name: str = "", pod_name: str = "") -> tuple[int, int, list[int]]:
    uid = container_sc.get("runAsUser", pod_sc.get("runAsUser"))
    gid = container_sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    user_name = ""
    if uid is None:
        spec = image_user or "0"
        u, _, g = spec.partition(":")
        if u.isdigit():
            uid, primary = int(u), 0
            for fields in _read_db(rootfs, "passwd"):
                if len(fields) >= 4 and fields[2] == u:
                    primary, user_name = int(fields[3]), fields[0]
                    break
        else:
            user_name = u
            uid, primary = _lookup_user(rootfs, u)
        if gid is None:
            gid = _lookup_group(rootfs, g) if g else primary
    else:
        for fields in _read_db(rootfs, "passwd"):
            if len(fields) >= 4 and fields[2] == str(uid):
                user_name = fields[0]
                if gid is None:
                    gid = int(fields[3])
                break
    uid, gid = int(uid), int(gid or 0)
    non_root = container_sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    if non_root:
        explicit = container_sc.get("runAsUser", pod_sc.get("runAsUser")) is not None
        if not explicit and image_user and not image_user.split(":")[0].isdigit():
            raise SpecError(f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                            f"cannot verify user is non-root (pod: {pod_name!r}, container: {container_name})")
        if uid == 0:
            raise SpecError(f"container has runAsNonRoot and image will run as root "
                            f"(pod: {pod_name!r}, container: {container_name})")
    groups = _user_groups(rootfs, user_name, uid, gid) if user_name else []
    for g in list(pod_sc.get("supplementalGroups") or []) + ([pod_sc["fsGroup"]] if "fsGroup" in pod_sc else []):
        if int(g) not in groups:
            groups.append(int(g))
    return uid, gid, groups
