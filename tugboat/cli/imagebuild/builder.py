"""Execute a Containerfile: instruction by instruction into layers + an OCI image config.

State is what Docker keeps between steps: the layers (gzip blobs, plus the same content as
overlay-form directories once a RUN needs a root filesystem), the image config (Env,
Entrypoint, Cmd, WorkingDir, User, ExposedPorts, Labels), the history, and the build
arguments. Metadata instructions add an `empty_layer` history entry; COPY/ADD/RUN a layer.
Rules copied from Docker: ENTRYPOINT clears a CMD inherited from the base image; shell forms
become `/bin/sh -c`; relative WORKDIR/COPY destinations are relative to the WORKDIR; a COPY
destination ending in `/` (or with several sources) is a directory; files are owned by root
unless `--chown` says otherwise; ARG values are in RUN's environment but not in the image.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tugboat.cli.imagebuild.base import BaseImage, fetch_base
from tugboat.cli.imagebuild.containerfile import (
    ContainerfileError,
    Instruction,
    expand,
    key_values,
    split_words,
)
from tugboat.cli.imagebuild.layer import copy_into, dir_to_layer, parents
from tugboat.cli.imagebuild.run import run_step
from tugboat.node.images.client import RegistryClient
from tugboat.node.images.layers import extract_layer
from tugboat.node.images.platform import host_platform
from tugboat.node.images.push import DEFAULT_PATH, Blob


@dataclass
class Build:
    context: Path
    work: Path  # scratch space for layers and RUN steps (the caller removes it)
    client: RegistryClient
    build_args: dict[str, str] = field(default_factory=dict)
    resolve_from: Any = None  # image name → where to fetch it (push_target with the local registry)
    output: Any = None  # where RUN output goes (None: inherit)
    config: dict[str, Any] = field(default_factory=dict)  # the image config document
    layers: list[Blob] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)  # overlay-form dirs of `layers` (filled lazily)
    args: dict[str, str] = field(default_factory=dict)  # ARGs declared (and their values)
    _n: int = 0
    _from_seen: bool = False
    _base_cmd: bool = False  # CMD came from the base image (ENTRYPOINT then clears it)

    @property
    def cfg(self) -> dict[str, Any]:
        return self.config.setdefault("config", {})

    def env(self) -> dict[str, str]:
        out = dict(self.args)
        for e in self.cfg.get("Env") or []:
            k, _, v = e.partition("=")
            out[k] = v
        return out

    def _history(self, ins: Instruction, empty: bool) -> None:
        entry: dict[str, Any] = {"created_by": ins.text, "comment": "tug image build"}
        if empty:
            entry["empty_layer"] = True
        self.config.setdefault("history", []).append(entry)

    def _add_layer(self, blob: Blob, directory: Path | None) -> None:
        self.layers.append(blob)
        self.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(blob.diff_id)
        if directory is not None and len(self.dirs) == len(self.layers) - 1:
            self.dirs.append(directory)

    def _next(self, what: str) -> Path:
        self._n += 1
        return self.work / f"{self._n:03d}-{what}"

    async def run(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            await self.run_one(ins)

    async def run_one(self, ins: Instruction) -> None:
        if ins.cmd == "FROM":
            if self._from_seen:
                raise ContainerfileError(ins.line, "multi-stage builds are not supported")
            self._from_seen = True
            await self.from_(ins)
        elif ins.cmd == "ARG":
            self.arg(ins)
        elif not self._from_seen:
            raise ContainerfileError(ins.line, f"{ins.cmd} before FROM: a Containerfile must begin with FROM")
        else:
            await getattr(self, "i_" + ins.cmd.lower(), self.i_ignored)(ins)

    async def from_(self, ins: Instruction) -> None:
        name = expand(ins.raw.split()[0] if ins.raw else "", self.args)
        if not name:
            raise ContainerfileError(ins.line, "FROM needs an image")
        target = name if name == "scratch" or self.resolve_from is None else self.resolve_from(name)
        base: BaseImage = await fetch_base(self.client, target, self.work)
        p = host_platform()
        self.config = {"architecture": p.architecture, "os": p.os,
                       "config": {"Env": [DEFAULT_PATH]}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
        if base.config:
            self.config.update({k: v for k, v in base.config.items() if k in ("architecture", "os", "variant")})
            self.config["config"] = dict(base.config.get("config") or {})
            self.config["history"] = list(base.config.get("history") or [])
        for b in base.layers:
            self._add_layer(b, None)
        self._base_cmd = bool(self.cfg.get("Cmd"))

    def arg(self, ins: Instruction) -> None:
        for w in split_words(ins.raw):
            k, eq, default = w.partition("=")
            self.args[k] = self.build_args.get(k, expand(default, self.env()) if eq else "")
        if self.config:
            self._history(ins, True)

    async def i_ignored(self, ins: Instruction) -> None:
        self._history(ins, True)

    async def i_env(self, ins: Instruction) -> None:
        env = self.cfg.setdefault("Env", [])
        for k, v in key_values(expand(ins.raw, self.env()), ins.line, legacy=True):
            env[:] = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
        self._history(ins, True)

    async def i_label(self, ins: Instruction) -> None:
        labels = self.cfg.setdefault("Labels", {})
        labels.update(key_values(expand(ins.raw, self.env()), ins.line, legacy=False))
        self._history(ins, True)

    async def i_workdir(self, ins: Instruction) -> None:
        path = expand(ins.raw.strip(), self.env())
        self.cfg["WorkingDir"] = posixpath.normpath(posixpath.join(self.cfg.get("WorkingDir") or "/", path))
        self._history(ins, True)

    async def i_user(self, ins: Instruction) -> None:
        self.cfg["User"] = expand(ins.raw.strip(), self.env())
        self._history(ins, True)

    async def i_expose(self, ins: Instruction) -> None:
        ports = self.cfg.setdefault("ExposedPorts", {})
        for w in expand(ins.raw, self.env()).split():
            port, _, proto = w.partition("/")
            if not port.isdigit() or proto.lower() not in ("", "tcp", "udp", "sctp"):
                raise ContainerfileError(ins.line, f"invalid port {w!r}")
            ports[f"{port}/{(proto or 'tcp').lower()}"] = {}
        self._history(ins, True)

    def _command(self, ins: Instruction) -> list[str]:
        return ins.exec_form if ins.exec_form is not None else ["/bin/sh", "-c", ins.raw]

    async def i_cmd(self, ins: Instruction) -> None:
        self.cfg["Cmd"] = self._command(ins)
        self._base_cmd = False
        self._history(ins, True)

    async def i_entrypoint(self, ins: Instruction) -> None:
        self.cfg["Entrypoint"] = self._command(ins)
        if self._base_cmd:
            self.cfg.pop("Cmd", None)  # Docker: ENTRYPOINT resets a CMD from the base image
            self._base_cmd = False
        self._history(ins, True)

    async def i_copy(self, ins: Instruction, *, add: bool = False) -> None:
        if "from" in ins.flags:
            raise ContainerfileError(ins.line, "COPY --from (multi-stage) is not supported")
        words = ins.exec_form if ins.exec_form is not None else split_words(ins.raw)
        words = [expand(w, self.env()) for w in words]
        if len(words) < 2:
            raise ContainerfileError(ins.line, f"{ins.cmd} needs a source and a destination")
        *srcs, dest = words
        cwd = self.cfg.get("WorkingDir") or "/"
        dest_abs = posixpath.join(cwd, dest)
        as_dir = dest.endswith("/")
        stage = self._next("copy")
        stage.mkdir(parents=True)
        paths = [p for src in srcs for p in self._context_glob(src, ins.line, add)]
        if len(paths) > 1 and not as_dir:
            raise ContainerfileError(ins.line, "several sources: the destination must be a directory ending in /")
        matched = len(paths)
        target = stage / dest_abs.lstrip("/")
        for path in paths:
            if path.is_dir() or (add and _archive(path)):
                copy_into(path, target, extract=add)  # a directory's contents / an archive's entries
            else:
                copy_into(path, target / path.name if as_dir else target)
        if not matched:
            raise ContainerfileError(ins.line, f"no source files were specified ({' '.join(srcs)})")
        if ins.flags.get("chmod"):
            mode = int(ins.flags["chmod"], 8)
            for root, subdirs, names in os.walk(stage / dest_abs.lstrip("/")):
                for n in subdirs + names:
                    os.chmod(os.path.join(root, n), mode, follow_symlinks=False)
        owner = _owner(ins.flags.get("chown", ""), ins.line)
        implicit = parents(posixpath.normpath(dest_abs), include_self=target.is_dir())
        self._add_layer(dir_to_layer(stage, self._next("layer.tar.gz"), owner, implicit), stage)
        self._history(ins, False)

    async def i_add(self, ins: Instruction) -> None:
        await self.i_copy(ins, add=True)

    def _context_glob(self, src: str, line: int, add: bool = False) -> list[Path]:
        if add and src.startswith(("http://", "https://", "git@")):
            raise ContainerfileError(line, "ADD from a URL is not supported (download it into the context)")
        rel = posixpath.normpath(src.lstrip("/"))
        if rel.startswith(".."):
            raise ContainerfileError(line, f"{src}: outside the build context")
        if not any(c in rel for c in "*?["):
            p = self.context / rel if rel != "." else self.context
            if not p.exists() and not p.is_symlink():
                raise ContainerfileError(line, f"{src}: not found in the build context")
            return [p]
        base = self.context
        out = []
        for root, _dirs, files in os.walk(base):
            for n in sorted(_dirs + files):
                r = os.path.relpath(os.path.join(root, n), base)
                if fnmatch.fnmatchcase(r, rel):
                    out.append(base / r)
        return sorted(out)

    async def i_run(self, ins: Instruction) -> None:
        await self._extract_layers()
        env = [f"{k}={v}" for k, v in self.args.items() if not any(
            e.startswith(k + "=") for e in self.cfg.get("Env") or [])] + list(self.cfg.get("Env") or [])
        upper = await run_step(self.dirs, self.work, self._command(ins), env, self.cfg.get("WorkingDir") or "/",
                               self.cfg.get("User") or "", output=self.output)
        self._add_layer(dir_to_layer(upper, self._next("layer.tar.gz")), upper)
        self._history(ins, False)

    async def _extract_layers(self) -> None:
        """Overlay-form directories for the base layers (once, for the first RUN)."""
        while len(self.dirs) < len(self.layers):
            b = self.layers[len(self.dirs)]
            d = self._next("base-rootfs")
            extract_layer(b.path, d, b.diff_id)
            self.dirs.append(d)

    def image_config(self) -> bytes:
        return orjson.dumps(self.config)


def _archive(path: Path) -> bool:
    from tugboat.cli.imagebuild.layer import is_archive

    return is_archive(path)


def _owner(chown: str, line: int) -> tuple[int, int]:
    """--chown=uid[:gid] (numeric, or root); default root:root as Docker does."""
    if not chown:
        return (0, 0)
    user, _, group = chown.partition(":")
    ids = []
    for v in (user, group or user):
        if v == "root":
            ids.append(0)
        elif v.isdigit():
            ids.append(int(v))
        else:
            raise ContainerfileError(line, f"--chown={chown}: only numeric ids (or root) are supported")
    return ids[0], ids[1]
