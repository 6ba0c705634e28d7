"""ControllerRevision helpers and the Job index/back-off rules (pure functions)."""

from tugboat.controllers.base import registered
from tugboat.controllers.controllerhistory import (
    hash_revision_data,
    hash_template,
    safe_encode,
    template_of,
    template_patch,
)
from tugboat.controllers.job_util import backoff_delay, format_indexes, parse_indexes, want_active


def test_revision_data_round_trips_the_template_and_hash_depends_on_collisions() -> None:
    tmpl = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    data = template_patch(tmpl)
    assert data["spec"]["template"]["$patch"] == "replace"
    assert template_of({"data": data}) == tmpl
    h = hash_revision_data(data, 0)
    assert h == hash_revision_data(template_patch(tmpl), 0)  # deterministic
    assert h != hash_revision_data(data, 1) and hash_template(tmpl, None) != hash_template(tmpl, 1)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert safe_encode("0123") == "4567"  # rune % 27, as apimachinery


def test_completed_indexes_use_upstream_interval_syntax() -> None:
    assert format_indexes({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert parse_indexes("0-2,5,7-8", 8) == {0, 1, 2, 5, 7}  # beyond completions dropped
    assert format_indexes(set()) == ""


def test_pod_failure_backoff_and_wanted_pods() -> None:
    assert [backoff_delay(n) for n in (0, 1, 2, 3, 6, 7, 20)] == [0, 10, 20, 40, 320, 360, 360]
    assert want_active({"parallelism": 3, "completions": 5}, succeeded=4, active=0) == 1
    assert want_active({"parallelism": 2}, succeeded=1, active=1) == 1  # work queue: no new pods


def test_manager_sees_these_controllers() -> None:
    names = registered()
    for n in ("statefulset", "daemonset", "job", "cronjob", "ttl-after-finished"):
        assert n in names
