"""Job and CronJob: defaults, the generated selector, cron schedule validation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from tugboat.api.kinds.batch_cron import CronError, parse_schedule, schedule_error
from tugboat.api.kinds.batch_cronjob import CronJobStrategy
from tugboat.api.kinds.batch_job import JobStrategy

J = JobStrategy()
CJ = CronJobStrategy()
UID = "6f1d6c1e-0000-4000-8000-000000000001"


def pod_template(restart="Never", labels=None):
    t = {"spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}}
    if labels is not None:
        t["metadata"] = {"labels": labels}
    return t


def job(**spec):
    base = {"template": pod_template()}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": UID}, "spec": base}


def create(s, o):
    s.prepare_for_create(o)
    s.default(o)
    return s.validate(o)


def update(s, new, old):
    s.prepare_for_update(new, old)
    s.default(new)
    return s.validate(new) + s.validate_update(new, old)


def msgs(errs):
    return [e.message for e in errs]


# ---- Job ---------------------------------------------------------------------------------
def test_job_defaults_and_generated_selector():
    j = job()
    assert create(J, j) == []
    spec = j["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert "manualSelector" not in spec
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": UID, "batch.kubernetes.io/job-name": "pi",
        "controller-uid": UID, "job-name": "pi"}
    assert "labels" not in j["metadata"]  # template had no labels: the Job gets none


def test_job_labels_copied_from_labelled_template():
    j = job(template=pod_template(labels={"app": "pi"}))
    assert create(J, j) == []
    assert j["metadata"]["labels"]["app"] == "pi"
    assert j["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi"


def test_job_parallelism_only_leaves_completions_unset():
    j = job(parallelism=3)
    create(J, j)
    assert "completions" not in j["spec"] and j["spec"]["parallelism"] == 3


def test_backoff_limit_per_index_defaults():
    j = job(completionMode="Indexed", completions=3, backoffLimitPerIndex=1)
    assert create(J, j) == []
    assert j["spec"]["backoffLimit"] == 2**31 - 1


def test_pod_failure_policy_defaults_and_restart_rule():
    pfp = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    j = job(podFailurePolicy=pfp)
    assert create(J, j) == []
    assert j["spec"]["podReplacementPolicy"] == "Failed"
    assert j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"
    j = job(podFailurePolicy=pfp, template=pod_template(restart="OnFailure"))
    assert msgs(create(J, j)) == ['spec.template.spec.restartPolicy: Invalid value: "OnFailure": '
                                  'only "Never" is supported when podFailurePolicy is specified']


def test_job_restart_policy_always_rejected():
    errs = create(J, job(template=pod_template(restart="Always")))
    assert msgs(errs) == ['spec.template.spec.restartPolicy: Unsupported value: "Always": '
                          'supported values: "OnFailure", "Never"']


def test_job_user_selector_without_manual_selector_rejected():
    j = job(selector={"matchLabels": {"app": "pi"}}, template=pod_template(labels={"app": "pi"}))
    errs = create(J, j)
    assert "spec.selector: Invalid value: {...}: `selector` not auto-generated" in msgs(errs)


def test_job_manual_selector():
    j = job(manualSelector=True, selector={"matchLabels": {"app": "pi"}},
            template=pod_template(labels={"app": "pi"}))
    assert create(J, j) == []
    assert "controller-uid" not in j["spec"]["template"]["metadata"]["labels"]
    j = job(manualSelector=True, template=pod_template(labels={"app": "pi"}))
    assert "spec.selector: Required value" in msgs(create(J, j))
    j = job(manualSelector=True, selector={"matchLabels": {"app": "x"}}, template=pod_template(labels={"app": "pi"}))
    assert msgs(create(J, j))[0].endswith("`selector` does not match template `labels`")


def test_job_negative_counts_and_indexed_rules():
    errs = create(J, job(parallelism=-1, backoffLimit=-2))
    assert [e.field for e in errs] == ["spec.parallelism", "spec.backoffLimit"]
    errs = create(J, job(completionMode="Indexed", parallelism=2))
    assert "spec.completions: Required value: when completion mode is Indexed" in msgs(errs)
    errs = create(J, job(completionMode="Sometimes"))
    assert msgs(errs)[0].startswith('spec.completionMode: Unsupported value: "Sometimes"')


def test_job_update_rules():
    old = job()
    create(J, old)
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 4
    new["spec"]["suspend"] = True
    assert update(J, new, old) == []
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 2
    assert [e.field for e in update(J, new, old)] == ["spec.completions"]
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    assert msgs(update(J, new, old)) == ["spec.template: Invalid value: {...}: field is immutable"]


def test_suspended_unstarted_job_may_change_scheduling_directives():
    old = job(suspend=True)
    create(J, old)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    assert update(J, new, old) == []
    old["status"] = {"startTime": "2024-01-01T00:00:00Z"}
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "b"}
    assert [e.field for e in update(J, new, old)] == ["spec.template"]


def test_elastic_indexed_job_scales_completions_with_parallelism():
    old = job(completionMode="Indexed", completions=3, parallelism=3)
    create(J, old)
    new = copy.deepcopy(old)
    new["spec"]["completions"] = new["spec"]["parallelism"] = 5
    assert update(J, new, old) == []


def test_job_field_selector_status_successful():
    j = job()
    assert J.field_values(j)["status.successful"] == "0"
    j["status"] = {"succeeded": 2}
    assert J.field_values(j)["status.successful"] == "2"


# ---- cron parser -------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["*/5 * * * *", "0 0 1 1 *", "@hourly", "@every 1h30m", "0 9-17 * jan-jun mon-fri",
                                  "15,45 */2 ? * SUN", "CRON_TZ=Europe/Paris 0 8 * * *", "5/15 * * * *"])
def test_valid_schedules(spec):
    assert schedule_error(spec) is None


@pytest.mark.parametrize("spec, message", [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every soon", 'failed to parse duration @every soon: time: invalid duration "soon"'),
    ("TZ=Mars/Base * * * * *", "provided bad location Mars/Base: unknown time zone Mars/Base"),
    ("", "empty spec string"),
])
def test_invalid_schedules(spec, message):
    assert schedule_error(spec) == message


def test_next_activation():
    s = parse_schedule("30 2 * * 1")  # Mondays 02:30
    after = datetime(2024, 1, 1, 3, 0, tzinfo=UTC)  # a Monday, 03:00
    assert s.next_after(after) == datetime(2024, 1, 8, 2, 30, tzinfo=UTC)
    assert parse_schedule("*/15 * * * *").next_after(datetime(2024, 1, 1, 0, 7, 12, tzinfo=UTC)) == \
        datetime(2024, 1, 1, 0, 15, tzinfo=UTC)
    # both day fields restricted: either may match (cron semantics)
    s = parse_schedule("0 0 13 * 5")
    assert s.next_after(datetime(2024, 1, 1, tzinfo=UTC)) == datetime(2024, 1, 5, tzinfo=UTC)
    with pytest.raises(CronError):
        parse_schedule("* * * * 7")


# ---- CronJob -----------------------------------------------------------------------------
def cronjob(**spec):
    base = {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": pod_template(restart="OnFailure")}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default"}, "spec": base}


def test_cronjob_defaults():
    c = cronjob()
    assert create(CJ, c) == []
    spec = c["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "completions" not in spec["jobTemplate"]["spec"]  # Job defaults apply to Jobs, not templates


def test_cronjob_schedule_rules():
    assert msgs(create(CJ, cronjob(schedule=""))) == ["spec.schedule: Required value"]
    assert msgs(create(CJ, cronjob(schedule="bad"))) == [
        'spec.schedule: Invalid value: "bad": expected exactly 5 fields, found 1: [bad]']
    assert msgs(create(CJ, cronjob(schedule="TZ=UTC 0 * * * *"))) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, '
        'use timeZone field instead']


def test_cronjob_time_zone():
    assert create(CJ, cronjob(timeZone="America/New_York")) == []
    assert msgs(create(CJ, cronjob(timeZone="Nowhere/Land"))) == [
        'spec.timeZone: Invalid value: "Nowhere/Land": unknown time zone Nowhere/Land']
    assert msgs(create(CJ, cronjob(timeZone=""))) == [
        'spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string']


def test_cronjob_policy_name_and_template():
    assert msgs(create(CJ, cronjob(concurrencyPolicy="Sometimes"))) == [
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"']
    c = cronjob()
    c["metadata"]["name"] = "a" * 53
    assert [e.message.rsplit(": ", 1)[1] for e in create(CJ, c)] == ["must be no more than 52 characters"]
    c = cronjob(jobTemplate={"spec": {"selector": {"matchLabels": {"a": "b"}},
                                      "template": pod_template(restart="Always")}})
    assert [e.field for e in create(CJ, c)] == ["spec.jobTemplate.spec.template.spec.restartPolicy",
                                                "spec.jobTemplate.spec.selector"]
