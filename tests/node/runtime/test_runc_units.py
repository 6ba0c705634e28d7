"""Pure parts of the runc runtime: version guard, OCI spec, user lookup, CRI log records."""

from __future__ import annotations

import os
import re
import threading

import pytest

from tugboat.node.images.base import ImageConfig
from tugboat.node.runtime import _oci, _oci_user, runc_shim, runc_version
from tugboat.node.runtime.base import ContainerConfig, Mount, SandboxConfig
from tugboat.node.runtime.runc_testing import GROUP, PASSWD

DEBIAN_12 = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\n"


def test_version_guard_accepts_fixed_and_patched_builds_and_refuses_others() -> None:
    assert runc_version.check(DEBIAN_12).patched_build
    assert not runc_version.check("runc version 1.1.12\ncommit: v1.1.12-0-g51d5e94\n").patched_build
    assert runc_version.check("runc version 1.2.0\n").version == "1.2.0"
    with pytest.raises(runc_version.RuncVersionError, match=r"runc 1\.1\.5\+ds1 \(build 1\.1\.5\+ds1-1\)"):
        runc_version.check("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1\n")
    with pytest.raises(runc_version.RuncVersionError, match="CVE-2024-21626"):
        runc_version.check("runc version 1.1.11\ncommit: v1.1.11\n")


@pytest.mark.parametrize("cwd", ["/proc/self/fd/7", "/proc/self/fd/../fd/8/x", "/proc/thread-self/fd/3",
                                 "/proc/1/fd/4", "relative"])
def test_working_dirs_reaching_the_host_are_refused(cwd: str) -> None:
    with pytest.raises(_oci.SpecError):
        _oci.check_working_dir(cwd)


def _spec(config: ContainerConfig, image: ImageConfig | None = None, **kw: object) -> dict:  # type: ignore[type-arg]
    paths = _oci.SandboxPaths(netns="/run/netns/x", ipc="/s/ipc", uts="/s/uts", hosts="/s/hosts",
                              resolv="/s/resolv.conf", hostname="/s/hostname", shm="/s/shm")
    return _oci.build_spec(config=config, sandbox=SandboxConfig(pod_uid="u", name="p", namespace="ns"),
                           image=image or ImageConfig(id="sha256:x", ref="r", entrypoint=["/ep"], cmd=["c1"],
                                                      env=["PATH=/img", "A=image"], working_dir="/w"),
                           rootfs="/rootfs", paths=paths, user=(0, 0, []), cgroups_path="/tugboat/podu/c", **kw)  # type: ignore[arg-type]


def test_spec_merges_image_config_like_containerd() -> None:
    s = _spec(ContainerConfig(name="c", image="i", env={"A": "pod"}))
    assert s["process"]["args"] == ["/ep", "c1"] and s["process"]["cwd"] == "/w"
    assert "A=pod" in s["process"]["env"] and "PATH=/img" in s["process"]["env"]
    assert _spec(ContainerConfig(name="c", image="i", args=["a"]))["process"]["args"] == ["/ep", "a"]
    assert _spec(ContainerConfig(name="c", image="i", command=["x"]))["process"]["args"] == ["x"]


def test_spec_resources_namespaces_and_mounts() -> None:
    s = _spec(ContainerConfig(name="c", image="i", cpu_request_milli=100, cpu_limit_milli=1500,
                              memory_limit_bytes=1 << 30, mounts=[Mount("/data", "/host/data", readonly=True)]),
              pids_limit=100, memsw=True)
    res = s["linux"]["resources"]
    assert res["cpu"] == {"shares": 102, "quota": 150000, "period": 100000}
    assert res["memory"] == {"limit": 1 << 30, "swap": 1 << 30} and res["pids"] == {"limit": 100}
    assert _spec(ContainerConfig(name="c", image="i"))["linux"]["resources"]["cpu"] == {"shares": 2}
    ns = {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}
    assert ns == {"mount": None, "pid": None, "ipc": "/s/ipc", "uts": "/s/uts", "network": "/run/netns/x"}
    mounts = {m["destination"]: m for m in s["mounts"]}
    assert mounts["/data"]["options"] == ["rbind", "rprivate", "ro"] and mounts["/etc/hosts"]["source"] == "/s/hosts"
    assert "ro" in mounts["/sys"]["options"] and s["linux"]["cgroupsPath"] == "/tugboat/podu/c"
    assert "CAP_NET_RAW" in s["process"]["capabilities"]["bounding"] and "seccomp" not in s["linux"]
    assert s["process"]["noNewPrivileges"] is False


def test_capabilities_add_and_drop() -> None:
    caps = _oci.capabilities({"capabilities": {"add": ["NET_ADMIN"], "drop": ["NET_RAW"]}}, False)
    assert "CAP_NET_ADMIN" in caps and "CAP_NET_RAW" not in caps
    assert _oci.capabilities({"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}, False) == ["CAP_CHOWN"]
    assert len(_oci.capabilities({}, True)) == len(_oci.ALL_CAPS)


def test_user_resolution_from_the_containers_own_passwd(tmp_path: object) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc"))
    for name, content in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(root, "etc", name), "w") as f:
            f.write(content)
    assert _oci_user.resolve(root, "app", {}, {}) == (1000, 1000, [2000])
    assert _oci_user.resolve(root, "", {"runAsUser": 1000}, {"supplementalGroups": [5], "fsGroup": 7}) == (
        1000, 1000, [2000, 5, 7])
    assert _oci_user.resolve(root, "65534:2000", {}, {}) == (65534, 2000, [])
    with pytest.raises(_oci.SpecError, match="unable to find user ghost"):
        _oci_user.resolve(root, "ghost", {}, {})
    with pytest.raises(_oci.SpecError, match="non-numeric user"):
        _oci_user.resolve(root, "app", {}, {"runAsNonRoot": True})
    assert _oci_user.resolve(root, "1000", {"runAsNonRoot": True}, {})[0] == 1000


def test_rfc3339nano_matches_go() -> None:
    assert runc_shim.rfc3339nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert runc_shim.rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert runc_shim.rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_log_pump_splits_long_lines_into_partial_records(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "c.log")
    log = runc_shim.LogWriter(path)
    r, w = os.pipe()
    t = threading.Thread(target=runc_shim.pump, args=(r, "stdout", log))
    t.start()
    os.write(w, b"short\n" + b"x" * (runc_shim.MAX_LINE + 10) + b"\nno newline at end")
    os.close(w)
    t.join(5)
    with open(path, "rb") as f:
        recs = [re.match(rb"^\S+ (stdout) ([FP]) (.*)$", line).groups() for line in f.read().splitlines()]  # type: ignore[union-attr]
    assert recs == [(b"stdout", b"F", b"short"), (b"stdout", b"P", b"x" * runc_shim.MAX_LINE),
                    (b"stdout", b"F", b"x" * 10), (b"stdout", b"F", b"no newline at end")]
