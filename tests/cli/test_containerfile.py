"""Containerfile syntax as Docker reads it: continuations, comments, forms, variables."""

from __future__ import annotations

import pytest

from tugboat.cli.imagebuild.containerfile import ContainerfileError, expand, key_values, parse


def test_continuations_comments_and_case() -> None:
    ins = parse("# escape=\\\nfrom busybox\n\n# comment\nrun echo a \\\n  # inside\n  && echo b\ncmd [\"sh\"]\n")
    assert [(i.cmd, i.line) for i in ins] == [("FROM", 2), ("RUN", 5), ("CMD", 8)]
    assert ins[1].raw == "echo a && echo b" and ins[1].exec_form is None
    assert ins[2].exec_form == ["sh"]


def test_backtick_escape_directive() -> None:
    ins = parse("# escape=`\nFROM scratch\nENV A=1 `\n  B=2\n")
    assert ins[1].raw == "A=1 B=2"


def test_flags_and_exec_form_fallback() -> None:
    ins = parse("FROM scratch\nCOPY --chown=1:2 --chmod=644 [\"a b\", \"/d/\"]\nRUN [not json\n")
    assert ins[1].flags == {"chown": "1:2", "chmod": "644"} and ins[1].exec_form == ["a b", "/d/"]
    assert ins[2].exec_form is None and ins[2].raw == "[not json"  # Docker: then it is the shell form


def test_unknown_instruction_names_its_line() -> None:
    with pytest.raises(ContainerfileError, match="line 3: unknown instruction FOO"):
        parse("FROM scratch\n\nFOO bar\n")


@pytest.mark.parametrize("text,env,out", [
    ("$A/${A}", {"A": "x"}, "x/x"),
    ("${MISSING:-dflt} ${A:-dflt}", {"A": "x"}, "dflt x"),
    ("${A:+set} ${MISSING:+set}.", {"A": "x"}, "set ."),
    ("\\$A costs $$", {"A": "x"}, "$A costs $$"),
])
def test_expand(text: str, env: dict[str, str], out: str) -> None:
    assert expand(text, env) == out


def test_key_values_forms() -> None:
    assert key_values('A=1 B="two words" C=', 1, legacy=False) == [("A", "1"), ("B", "two words"), ("C", "")]
    assert key_values("GREETING hello world", 1, legacy=True) == [("GREETING", "hello world")]
    with pytest.raises(ContainerfileError, match="KEY=VALUE"):
        key_values("LONELY", 4, legacy=True)
