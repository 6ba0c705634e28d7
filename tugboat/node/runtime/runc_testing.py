"""A stand-in ImageService over a prepared busybox root filesystem (tests and benchmarks).

The real image store (tugboat/node/images) pulls from a registry; the runc runtime's own
tests and the pod-start benchmark must not depend on it. `busybox_rootfs(dir)` builds a
tiny image from Debian's busybox-static (/bin/busybox + an applet symlink each, /etc/passwd
and /etc/group with root, nobody and a `app` user 1000); `DirImages` serves it under any
image name and gives each container an overlayfs (that dir read-only + a per-container
upper dir), exactly the shape of the real store's mounts.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tugboat.node.images.base import ImageConfig
from tugboat.node.runtime import runc_mounts

BUSYBOX = "/bin/busybox"
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n"


def busybox_rootfs(dest: str) -> str:
    """Build (once) a busybox root filesystem in `dest`; returns `dest`."""
    marker = os.path.join(dest, ".tugboat-rootfs")
    if os.path.exists(marker):
        return dest
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "var/www"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        link = os.path.join(dest, "bin", a)
        if a != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    for name, content in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(dest, "etc", name), "w") as f:
            f.write(content)
    with open(os.path.join(dest, "var", "www", "index.html"), "w") as f:
        f.write("hello from busybox httpd\n")
    open(marker, "w").close()
    return dest


class DirImages:
    """ImageService over one directory: every image name resolves to it."""

    def __init__(self, rootfs: str, work_dir: str, *, env: list[str] | None = None, user: str = ""):
        self.rootfs = rootfs
        self.work_dir = work_dir
        self.config = ImageConfig(id="sha256:" + "0" * 64, ref="", entrypoint=[], cmd=["sh"],
                                  env=env or ["PATH=/bin"], user=user)
        os.makedirs(work_dir, exist_ok=True)

    def _image(self, image: str) -> ImageConfig:
        cfg = ImageConfig(**{**self.config.__dict__, "ref": image})
        return cfg

    async def pull(self, image: str, *, auth: dict[str, str] | None = None) -> ImageConfig:
        return self._image(image)

    async def status(self, image: str) -> ImageConfig | None:
        return self._image(image)

    async def mount_rootfs(self, image: ImageConfig, container_id: str) -> str:
        base = os.path.join(self.work_dir, container_id)
        upper, work, merged = (os.path.join(base, d) for d in ("upper", "work", "rootfs"))
        for d in (upper, work, merged):
            os.makedirs(d, exist_ok=True)
        if not runc_mounts.is_mounted(merged):
            runc_mounts.mount("overlay", merged, "overlay", 0, f"lowerdir={self.rootfs},upperdir={upper},workdir={work}")
        return merged

    async def unmount_rootfs(self, container_id: str) -> None:
        base = os.path.join(self.work_dir, container_id)
        runc_mounts.unmount(os.path.join(base, "rootfs"))
        shutil.rmtree(base, ignore_errors=True)

    async def remove(self, image: str) -> None:
        return None

    async def garbage_collect(self, high_percent: int = 85, low_percent: int = 80) -> int:
        return 0
