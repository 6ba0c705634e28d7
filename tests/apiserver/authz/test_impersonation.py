"""Impersonation headers: each impersonated attribute needs `impersonate`, service accounts get their groups."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from tugboat.api.errors import ApiError
from tugboat.apiserver.authz.attrs import Attrs, Decision
from tugboat.apiserver.authz.impersonation import impersonate
from tugboat.apiserver.request import UserInfo

ME = UserInfo("ops", ("system:authenticated",))


def only(*allowed: tuple[str, str]):  # type: ignore[no-untyped-def]
    """A decider allowing `impersonate` on exactly these (resource, name) pairs."""
    seen: list[Attrs] = []

    def decide(a: Attrs) -> tuple[Decision, str]:
        seen.append(a)
        ok = a.verb == "impersonate" and (a.resource, a.name) in allowed
        return (Decision.ALLOW if ok else Decision.NO_OPINION), ""
    return decide, seen


def test_no_headers_keeps_the_user() -> None:
    assert impersonate(CIMultiDict(), ME, None) is ME


def test_service_account_gets_its_groups_and_needs_serviceaccounts_impersonate() -> None:
    decide, seen = only(("serviceaccounts", "builder"))
    h = CIMultiDict({"Impersonate-User": "system:serviceaccount:ci:builder"})
    user = impersonate(h, ME, decide)
    assert user.name == "system:serviceaccount:ci:builder"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated")
    assert seen[0].namespace == "ci" and seen[0].resource == "serviceaccounts"


def test_every_group_is_checked() -> None:
    decide, _ = only(("users", "bob"), ("groups", "qa"))
    h = CIMultiDict([("Impersonate-User", "bob"), ("Impersonate-Group", "qa"), ("Impersonate-Group", "system:masters")])
    with pytest.raises(ApiError) as e:
        impersonate(h, ME, decide)
    assert e.value.code == 403
    assert e.value.message == ('groups "system:masters" is forbidden: User "ops" cannot impersonate resource "groups" '
                               'in API group "" at the cluster scope')
    h = CIMultiDict([("Impersonate-User", "bob"), ("Impersonate-Group", "qa")])
    assert impersonate(h, ME, decide).groups == ("qa", "system:authenticated")
