"""An image made by `tug image build` runs in a real pod as its Containerfile says.

As root with runc + CNI (tests/e2e/realnode.py): a Containerfile FROM the test registry's
busybox with ARG, ENV, WORKDIR, COPY, ADD (a local tarball, unpacked), RUN (in runc: a user
added to /etc/passwd, a file written), USER, ENTRYPOINT and CMD is built and pushed under a
Docker Hub name; a pod with `image: <that name>` (resolved through the docker.io mirror) prints
what it sees: the build argument through ENV, its uid from USER, its working directory, the
unpacked and the RUN-made files, and CMD as the entrypoint's argument.
"""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.e2e.realnode import real_node

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]

CONTAINERFILE = """FROM busybox
ARG GREETING=hello
ENV GREETING=$GREETING HOME=/app
WORKDIR /app
COPY --chmod=755 app.sh ./
ADD data.tar.gz data/
RUN echo 'app:x:1234:1234:app:/app:/bin/sh' >> /etc/passwd && echo "made by RUN" > /app/run.txt
USER app
ENTRYPOINT ["/app/app.sh"]
CMD ["world"]
"""
APP_SH = ('#!/bin/sh\necho "$GREETING $1 uid=$(id -u) pwd=$(pwd) data=$(cat data/x.txt) run=$(cat run.txt)"\n'
          'exec sleep 3600\n')


def test_built_image_runs_as_described(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "app.sh").write_text(APP_SH)
    with tarfile.open(ctx / "data.tar.gz", "w:gz") as tf:  # ADD keeps the archive's modes: world-readable
        info = tarfile.TarInfo("x.txt")
        info.size, info.mode = 7, 0o644
        tf.addfile(info, io.BytesIO(b"payload"))
    with real_node(own_netns_only=True) as node:
        name = f"built-{secrets.token_hex(3)}:1"
        p = subprocess.run([sys.executable, "-m", "tugboat.cli.main", "image", "build", "-t", name,
                            "--registry", node.registry_host, "--build-arg", "GREETING=hola", str(ctx)],
                           capture_output=True, text=True, cwd=str(REPO), timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        ns = node.new_namespace()
        node.create(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "app", "image": name}]}})
        # (a pod that keeps running: the agent currently leaves a Succeeded pod's sandbox behind)
        node.wait_pod(ns, "app", lambda pod: pod.get("status", {}).get("phase") == "Running", timeout=90,
                      what="Running")
        deadline = time.monotonic() + 30
        out = ""
        while time.monotonic() < deadline and not out:
            out = node.kubectl("-n", ns, "logs", "app", check=False).stdout.strip()
            time.sleep(0.2)
        assert out == "hola world uid=1234 pwd=/app data=payload run=made by RUN", out
