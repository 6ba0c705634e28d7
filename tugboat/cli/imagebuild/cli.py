"""`tug image build` and `tug image ls`: build from a Containerfile and push; list a registry.

    tug image build -t web:1 [-f Containerfile] [--build-arg K=V] DIR
    tug image ls [--registry 127.0.0.1:5000]

A Docker Hub name (`web:1`, `busybox`) goes to the local registry of `tug server` — the
registry the agent mirrors docker.io to — so `image: web:1` in a pod finds it; a name with a
registry host goes there. `ls` reads /v2/_catalog and each repository's tags/list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_REGISTRY = os.environ.get("TUG_REGISTRY", "127.0.0.1:5000")


def add_parsers(isub: Any) -> None:
    b = isub.add_parser("build", help="build an image from a Containerfile and push it")
    b.add_argument("context", help="the build context directory")
    b.add_argument("-t", "--tag", required=True, help="image reference, e.g. web:1 (→ the local registry)")
    b.add_argument("-f", "--file", default="", help="the Containerfile (default: CONTEXT/Containerfile, "
                                                     "else CONTEXT/Dockerfile)")
    b.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--registry", default=DEFAULT_REGISTRY,
                   help="where Docker Hub names go (the local registry; '' pushes to Docker Hub itself)")
    b.add_argument("--registry-config", default="", help="registries.yaml (k3s format) for auth and TLS")
    b.add_argument("-q", "--quiet", action="store_true", help="print only the image digest")
    ls = isub.add_parser("ls", help="list the repositories and tags of a registry")
    ls.add_argument("--registry", default=DEFAULT_REGISTRY, help="host:port of the registry")
    ls.add_argument("--registry-config", default="", help="registries.yaml (k3s format) for auth and TLS")


def _containerfile(args: argparse.Namespace) -> Path:
    if args.file:
        return Path(args.file)
    ctx = Path(args.context)
    for name in ("Containerfile", "Dockerfile"):
        if (ctx / name).exists():
            return ctx / name
    raise FileNotFoundError(f"no Containerfile or Dockerfile in {ctx} (use -f)")


async def build(args: argparse.Namespace, out: Any = None) -> tuple[str, str]:
    """Build and push; returns (pushed reference, manifest digest)."""
    from tugboat.cli.imagebuild.builder import Build
    from tugboat.cli.imagebuild.containerfile import parse
    from tugboat.cli.registry import push_target
    from tugboat.node.images.client import RegistryClient
    from tugboat.node.images.push import Pusher
    from tugboat.node.images.reference import parse as parse_ref
    from tugboat.node.images.regconfig import RegistryConfig

    ctx = Path(args.context)
    if not ctx.is_dir():
        raise FileNotFoundError(f"{ctx}: the build context must be a directory")
    instructions = parse(_containerfile(args).read_text())
    build_args = {}
    for kv in args.build_arg:
        k, eq, v = kv.partition("=")
        build_args[k] = v if eq else os.environ.get(k, "")
    target = push_target(args.tag, args.registry)
    client = RegistryClient(RegistryConfig.load(args.registry_config or None))
    work = Path(tempfile.mkdtemp(prefix="tug-build-"))
    try:
        b = Build(ctx, work, client, build_args, resolve_from=lambda n: push_target(n, args.registry), output=out)
        total = len(instructions)
        for i, ins in enumerate(instructions, 1):
            if not args.quiet:
                print(f"STEP {i}/{total}: {ins.text}", flush=True)
            await b.run_one(ins)
        digest, _ = await Pusher(client).image(parse_ref(target), b.layers, b.image_config())
        return target, digest
    finally:
        await client.close()
        shutil.rmtree(work, ignore_errors=True)


async def list_images(registry: str, registry_config: str = "") -> dict[str, list[str]]:
    """{repository: sorted tags} of the registry at host:port (every catalog page)."""
    from tugboat.node.images.client import RegistryClient
    from tugboat.node.images.regconfig import RegistryConfig

    client = RegistryClient(RegistryConfig.load(registry_config or None))
    try:
        ep = client.config.default_endpoint(registry)
        repos: list[str] = []
        path = "/v2/_catalog?n=1000"
        while path:
            resp = await client.request(ep, "GET", path, scope="registry:catalog:*")
            try:
                repos += (await resp.json(content_type=None)).get("repositories") or []
                link = resp.headers.get("Link", "")
            finally:
                resp.release()
            path = link.split(";")[0].strip("<> ") if link else ""
        out = {}
        for repo in sorted(repos):
            resp = await client.request(ep, "GET", f"/v2/{repo}/tags/list", scope=f"repository:{repo}:pull")
            try:
                out[repo] = sorted((await resp.json(content_type=None)).get("tags") or [])
            finally:
                resp.release()
        return out
    finally:
        await client.close()


def cmd_build(args: argparse.Namespace) -> int:
    from tugboat.cli.imagebuild.containerfile import ContainerfileError
    from tugboat.cli.imagebuild.run import RunError
    from tugboat.node.images.base import PullError
    from tugboat.node.images.client import RegistryError

    try:
        ref, digest = asyncio.run(build(args))
    except (ContainerfileError, RunError, RegistryError, PullError, OSError, ValueError) as e:
        print(f"tug: image build: {e}", file=sys.stderr)
        return 1
    print(digest if args.quiet else f"{ref}: pushed {digest}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from tugboat.node.images.client import RegistryError

    try:
        images = asyncio.run(list_images(args.registry, args.registry_config))
    except (RegistryError, OSError) as e:
        print(f"tug: image ls: {args.registry}: {e}", file=sys.stderr)
        return 1
    print(f"{'REPOSITORY':<40} TAG")
    for repo, tags in images.items():
        for tag in tags or ["<none>"]:
            print(f"{args.registry + '/' + repo:<40} {tag}")
    return 0
