"""Plugin results, shaped like upstream's framework.Status.

A filter that passes returns None (no allocation on the hot path); anything else returns a
Status whose code tells the scheduler what to do next: Unschedulable (preemption may help),
UnschedulableAndUnresolvable (it cannot: the node lacks a label, a taint is untolerated …),
Error, or Skip (from pre_filter/pre_score: this plugin has nothing to say about this pod).
`reasons` are the short strings counted in the FailedScheduling message.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5


class Status:
    __slots__ = ("code", "reasons", "plugin")

    def __init__(self, code: Code, *reasons: str, plugin: str = ""):
        self.code = code
        self.reasons: tuple[str, ...] = reasons
        self.plugin = plugin

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {list(self.reasons)!r}, plugin={self.plugin!r})"


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, *reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, *reasons)


SKIP = Status(Code.SKIP)
SUCCESS = Status(Code.SUCCESS)
