"""Read a Containerfile (Dockerfile syntax) into instructions.

The subset users need to build an app image without Docker: FROM, COPY, ADD, RUN, ENV,
WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, LABEL, ARG. Syntax follows the Dockerfile reference:
instructions are case-insensitive, `\\` continues a line (the `# escape=` directive can change
it), `#` lines are comments (also inside a continuation), RUN/CMD/ENTRYPOINT/COPY/ADD take a
shell form or a JSON-array exec form, and `$VAR` / `${VAR}` / `${VAR:-word}` / `${VAR:+word}`
are replaced (from ARGs and ENVs so far) in FROM, COPY, ADD, ENV, WORKDIR, USER, EXPOSE and
LABEL — not in RUN/CMD/ENTRYPOINT, where the shell does it when the command runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

SUPPORTED = {"FROM", "COPY", "ADD", "RUN", "ENV", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL",
             "ARG"}
IGNORED = {"MAINTAINER", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "VOLUME", "ONBUILD"}


class ContainerfileError(ValueError):
    def __init__(self, line: int, msg: str):
        super().__init__(f"line {line}: {msg}")
        self.line = line


@dataclass
class Instruction:
    cmd: str  # upper case
    raw: str  # the arguments as written (continuations joined)
    line: int  # 1-based line where the instruction starts
    flags: dict[str, str] = field(default_factory=dict)  # --chown=… etc. (COPY/ADD/FROM)
    exec_form: list[str] | None = None  # the JSON-array form, when used

    @property
    def text(self) -> str:
        return f"{self.cmd} {self.raw}".strip()


def _directives(lines: list[str]) -> str:
    """The escape character from a leading `# escape=` directive (default backslash)."""
    for line in lines:
        m = re.match(r"^\s*#\s*(\w+)\s*=\s*(\S+)\s*$", line)
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            return m.group(2)
    return "\\"


def parse(text: str) -> list[Instruction]:
    lines = text.splitlines()
    escape = _directives(lines)
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue  # comments (even inside a continuation) and blank lines
        if not buf:
            start = n
        if stripped.endswith(escape) and not stripped.endswith(escape * 2):
            buf.append(stripped[:-1].rstrip())
            continue
        buf.append(stripped)
        out.append(_instruction(" ".join(b for b in buf if b).strip(), start))
        buf = []
    if buf:
        out.append(_instruction(" ".join(buf).strip(), start))
    return out


def _instruction(s: str, line: int) -> Instruction:
    word, _, rest = s.partition(" ")
    cmd = word.upper()
    if cmd not in SUPPORTED and cmd not in IGNORED:
        raise ContainerfileError(line, f"unknown instruction {word}")
    rest = rest.strip()
    ins = Instruction(cmd, rest, line)
    if cmd in ("COPY", "ADD", "FROM", "RUN"):
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            k, _, v = flag[2:].partition("=")
            ins.flags[k] = v
            rest = rest.strip()
        ins.raw = rest
    if cmd in ("RUN", "CMD", "ENTRYPOINT", "COPY", "ADD") and rest.startswith("["):
        try:
            words = json.loads(rest)
        except ValueError:
            words = None  # not JSON: Docker then treats it as the shell form
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            ins.exec_form = words
    return ins


_VAR = re.compile(r"\\\$|\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")


def expand(s: str, env: dict[str, str]) -> str:
    """Docker's variable substitution: $V, ${V}, ${V:-default}, ${V:+alt}; `\\$` is a literal $."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group(1) or m.group(4)
        val = env.get(name, "")
        if m.group(2) == "-":
            return val or m.group(3)
        if m.group(2) == "+":
            return m.group(3) if val else ""
        return val

    return _VAR.sub(sub, s)


def split_words(s: str) -> list[str]:
    """Shell-like words with quotes and backslash escapes (ENV, LABEL, ARG, COPY sources)."""
    import shlex

    lex = shlex.shlex(s, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    return list(lex)


def key_values(raw: str, line: int, *, legacy: bool) -> list[tuple[str, str]]:
    """`k=v k2="v 2"` pairs; with `legacy`, also `KEY value with spaces` (ENV's old form)."""
    words = split_words(raw)
    if not words:
        raise ContainerfileError(line, "needs at least one argument")
    if "=" not in words[0]:
        if not legacy or len(words) < 2:
            raise ContainerfileError(line, f"expected KEY=VALUE, got {raw!r}")
        key, _, value = raw.strip().partition(" ")
        return [(key, " ".join(split_words(value.strip())))]
    pairs = []
    for w in words:
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise ContainerfileError(line, f"expected KEY=VALUE, got {w!r}")
        pairs.append((k, v))
    return pairs
