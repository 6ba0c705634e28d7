"""`tug image push SOURCE REF`: put a root filesystem into a registry as an OCI image.

SOURCE is a root filesystem directory, a rootfs tarball (.tar / .tar.gz) or an OCI image layout
directory. With no Docker engine around, this is how users (and tests) make images that pods
can run, e.g. a directory holding Debian's static busybox:

    tug image push ./rootfs 127.0.0.1:5000/library/busybox:latest --cmd sh

Wiring (tugboat/cli/main.py): `add_image_parser(sub)` in build_parser, and dispatch
`args.cmd == "image"` to `cmd_image(args)` (it returns the exit code).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys


def add_image_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    img = sub.add_parser("image", help="work with OCI images")
    isub = img.add_subparsers(dest="image_cmd", required=True)
    p = isub.add_parser("push", help="push a rootfs directory, tarball or OCI layout as an image")
    p.add_argument("source", help="root filesystem directory, .tar/.tar.gz of one, or an OCI layout dir")
    p.add_argument("ref", help="image reference, e.g. 127.0.0.1:5000/library/busybox:latest")
    p.add_argument("--registry-config", default="", help="registries.yaml (k3s format) for auth and TLS")
    p.add_argument("--insecure", action="store_true", help="speak plain HTTP to the registry")
    p.add_argument("--entrypoint", default=None, help="image ENTRYPOINT (shell words, or a JSON list)")
    # dest: not "cmd", which is the top-level subcommand (`tug image …` would no longer dispatch)
    p.add_argument("--cmd", dest="image_cmd_words", default=None, help="image CMD (shell words, or a JSON list)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="image environment")
    p.add_argument("--workdir", default="", help="image working directory")
    p.add_argument("--user", default="", help="image user")
    p.add_argument("--chunk-size", type=int, default=0, help="upload in chunks of this many bytes")
    from tugboat.cli.imagebuild.cli import DEFAULT_REGISTRY, add_parsers

    p.add_argument("--registry", default=DEFAULT_REGISTRY,
                   help="where Docker Hub names (busybox, x/y) go: the local registry of tug server "
                        "('' = Docker Hub itself)")
    add_parsers(isub)


def _words(value: str | None) -> list[str] | None:
    if value is None:
        return None
    v = value.strip()
    if v.startswith("["):
        import json

        words = json.loads(v)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"not a JSON list of strings: {value}")
        return words
    return shlex.split(v)


async def _push(args: argparse.Namespace) -> str:
    from tugboat.node.images.client import RegistryClient
    from tugboat.node.images.push import push_source
    from tugboat.node.images.regconfig import RegistryConfig

    client = RegistryClient(RegistryConfig.load(args.registry_config or None))
    try:
        for e in args.env:
            if "=" not in e:
                raise ValueError(f"--env {e!r}: expected KEY=VALUE")
        from tugboat.cli.registry import push_target

        args.ref = push_target(args.ref, args.registry)
        return await push_source(client, args.source, args.ref, insecure=args.insecure,
                                 chunk_size=args.chunk_size, entrypoint=_words(args.entrypoint),
                                 cmd=_words(args.image_cmd_words), env=args.env, workdir=args.workdir, user=args.user)
    finally:
        await client.close()


def cmd_image(args: argparse.Namespace) -> int:
    if args.image_cmd in ("build", "ls"):
        from tugboat.cli.imagebuild.cli import cmd_build, cmd_ls

        return cmd_build(args) if args.image_cmd == "build" else cmd_ls(args)
    from tugboat.node.images.base import PullError
    from tugboat.node.images.client import RegistryError

    try:
        digest = asyncio.run(_push(args))
    except (RegistryError, PullError, OSError, ValueError, KeyError) as e:
        print(f"tug: image push {args.ref}: {e}", file=sys.stderr)
        return 1
    print(f"{args.ref}: pushed {digest}")
    return 0
