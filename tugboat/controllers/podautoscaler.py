"""HorizontalPodAutoscaler controller (autoscaling/v2): scale a workload by its pods' usage.

Upstream 1.32 `pkg/controller/podautoscaler`, sync every 15 s per HPA:
1. read the target's `scale` subresource (replicas and the pod selector);
2. replicas outside [minReplicas, maxReplicas] are brought inside; 0 replicas disables scaling;
3. otherwise each metric proposes a replica count (podautoscaler_calc.py) from the resource
   metrics API (`metrics.k8s.io`, fed by the node agents' stats) and the highest wins;
4. stabilization and rate limits (podautoscaler_behavior.py) turn it into the new size, which is
   written to the scale subresource with a `SuccessfulRescale` event;
5. status gets currentReplicas/desiredReplicas/currentMetrics/lastScaleTime and the conditions
   AbleToScale, ScalingActive and ScalingLimited with upstream's reasons.
Resource and ContainerResource metrics are supported; Pods, Object and External metrics need
a custom/external metrics API, which Tugboat does not serve — they report
`FailedGetPodsMetric`-style conditions instead of silently doing nothing.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from tugboat.api.quantity import format_quantity, milli_value
from tugboat.api.selectors import parse_label_selector
from tugboat.client import copy_obj, is_not_found, resource_path, split_key
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.controllers.podautoscaler_behavior import History, Limited, with_behavior, without_behavior
from tugboat.controllers.podautoscaler_calc import (
    MetricsError,
    Sample,
    Settings,
    plain_replicas,
    resource_replicas,
)
from tugboat.util.clock import parse_rfc3339, rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SYNC_PERIOD = 15.0
_GET_FAILED = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
               "External": "FailedGetExternalMetric", "Resource": "FailedGetResourceMetric",
               "ContainerResource": "FailedGetContainerResourceMetric"}


def _fmt_milli(v: int) -> str:
    """A milli-unit value as Kubernetes prints `resource.NewMilliQuantity(v, DecimalSI)`."""
    return format_quantity(Decimal(v) / 1000)


def set_condition(status: Obj, ctype: str, value: str, reason: str, message: str, now: str) -> None:
    conds: list[Obj] = status.setdefault("conditions", [])
    for c in conds:
        if c.get("type") == ctype:
            if c.get("status") != value:
                c["lastTransitionTime"] = now
            c.update(status=value, reason=reason, message=message)
            return
    conds.append({"type": ctype, "status": value, "lastTransitionTime": now, "reason": reason, "message": message})


@register
class HorizontalPodAutoscalerController(BaseController):
    name = "horizontal-pod-autoscaler-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        opts = ctx.options.get(self.name, {})
        self.sync_period = float(opts.get("sync_period", SYNC_PERIOD))
        self.settings = Settings(tolerance=float(opts.get("tolerance", 0.1)),
                                 cpu_initialization_period=float(opts.get("cpu_initialization_period", 300.0)),
                                 initial_readiness_delay=float(opts.get("initial_readiness_delay", 30.0)))
        self.downscale_window = float(opts.get("downscale_stabilization", 300.0))
        self.hpa_rt = ctx.rt("autoscaling", "v2", "horizontalpodautoscalers")
        self.events = ctx.recorder("horizontal-pod-autoscaler")
        self.history: dict[str, History] = {}

    def setup(self) -> None:
        self.hpas = self.ctx.informers.informer(self.hpa_rt)
        self.hpa_lister = self.ctx.informers.lister(self.hpa_rt)
        self.pods = self.ctx.lister("", "v1", "pods")
        self.hpas.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        hpa = self.hpa_lister.get(name, ns)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            self.history.pop(key, None)
            return None
        hpa = copy_obj(hpa)
        old_status = copy_obj(hpa.get("status") or {})
        try:
            await self._reconcile(key, hpa)
        finally:
            if hpa.get("status") != old_status:
                try:
                    await self.client.update_status(self.hpa_rt, hpa)
                except ApiStatusError as e:
                    if not is_not_found(e):
                        raise
        return self.sync_period

    async def _reconcile(self, key: str, hpa: Obj) -> None:
        spec = hpa["spec"]
        status: Obj = hpa.setdefault("status", {})
        now_t = self.ctx.clock.time()
        now = rfc3339(now_t)
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        ref = spec.get("scaleTargetRef") or {}
        try:
            rt = await self.client.resource_for(ref.get("apiVersion", ""), ref.get("kind", ""))
            path = resource_path(rt, hpa["metadata"]["namespace"], ref.get("name", ""), "scale")
            scale = await self.client.request("GET", path)
        except (ApiStatusError, KeyError, ValueError) as e:
            msg = f"the HPA controller was unable to get the target's current scale: {e}"
            set_condition(status, "AbleToScale", "False", "FailedGetScale", msg, now)
            self.events.emit(hpa, "Warning", "FailedGetScale", str(e))
            return
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", now)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        hist = self.history.setdefault(key, History())
        hist.initial(current, now_t)
        minimum = spec.get("minReplicas", 1)
        maximum = spec["maxReplicas"]
        rescale, reason, metrics_status = True, "", status.get("currentMetrics")
        if current == 0 and minimum != 0:
            desired, rescale = 0, False
            set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero", now)
        elif current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            proposal = await self._metrics_replicas(hpa, scale, current, now_t)
            if proposal is None:
                status.update(currentReplicas=current, desiredReplicas=status.get("desiredReplicas", current))
                return
            desired, metric, metrics_status = proposal
            reason = f"{metric} above target" if desired > current else "All metrics below target"
            limited = self._normalize(hist, spec.get("behavior"), current, desired, minimum, maximum, now_t)
            set_condition(status, "AbleToScale", "True", limited.stabilized_reason, limited.stabilized_message, now)
            set_condition(status, "ScalingLimited", "True" if limited.limited else "False", limited.reason,
                          limited.message, now)
            desired = limited.replicas
            rescale = desired != current
        if rescale:
            scale = copy_obj(scale)
            scale.setdefault("spec", {})["replicas"] = desired
            try:
                await self.client.request("PUT", path, body=scale)
            except ApiStatusError as e:
                self.events.emit(hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {e}")
                set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {e}", now)
                return
            set_condition(status, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}", now)
            self.events.emit(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            hist.record_scale(spec.get("behavior"), current, desired, now_t)
            status["lastScaleTime"] = now
        else:
            desired = current
        status.update(currentReplicas=current, desiredReplicas=desired)
        if metrics_status is not None:
            status["currentMetrics"] = metrics_status

    def _normalize(self, hist: History, behavior: Obj | None, current: int, desired: int, minimum: int,
                   maximum: int, now: float) -> Limited:
        if behavior is None:
            return without_behavior(hist, current, desired, minimum, maximum, now, self.downscale_window)
        return with_behavior(hist, behavior, current, desired, minimum, maximum, now)

    async def _metrics_replicas(self, hpa: Obj, scale: Obj, current: int,
                                now_t: float) -> tuple[int, str, list[Obj]] | None:
        """(replicas, metric name, currentMetrics) or None with ScalingActive False set."""
        status, now = hpa["status"], rfc3339(now_t)
        selector = (scale.get("status") or {}).get("selector") or ""
        if not selector:
            self.events.emit(hpa, "Warning", "SelectorRequired", "selector is required")
            set_condition(status, "ScalingActive", "False", "InvalidSelector",
                          "the HPA target's scale is missing a selector", now)
            return None
        try:
            sel = parse_label_selector(selector)
        except ValueError as e:
            set_condition(status, "ScalingActive", "False", "InvalidSelector",
                          f"couldn't convert selector into a corresponding internal selector object: {e}", now)
            return None
        ns = hpa["metadata"]["namespace"]
        pods = [p for p in self.pods.list(ns) if sel.matches(p["metadata"].get("labels"))]
        best, best_metric, statuses = 0, "", []
        errors: list[tuple[str, str]] = []
        specs = hpa["spec"].get("metrics") or []
        for m in specs:
            try:
                replicas, metric, st = await self._one_metric(m, ns, selector, pods, current, now_t)
            except MetricsError as e:
                errors.append((_GET_FAILED.get(m.get("type", ""), "FailedGetResourceMetric"), str(e)))
                statuses.append({"type": ""})
                continue
            statuses.append(st)
            if best == 0 or replicas > best:
                best, best_metric = replicas, metric
        statuses = [s for s in statuses if s.get("type")]
        if errors and (len(errors) >= len(specs) or best < current):
            reason, msg = errors[0]
            self.events.emit(hpa, "Warning", reason, msg)
            self.events.emit(hpa, "Warning", "FailedComputeMetricsReplicas",
                             f"invalid metrics ({len(errors)} invalid out of {len(specs)}), first error is: {msg}")
            set_condition(status, "ScalingActive", "False", reason,
                          f"the HPA was unable to compute the replica count: {msg}", now)
            status["currentMetrics"] = statuses or None
            return None
        set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from {best_metric}", now)
        return best, best_metric, statuses

    async def _one_metric(self, m: Obj, ns: str, selector: str, pods: list[Obj], current: int,
                          now_t: float) -> tuple[int, str, Obj]:
        mtype = m.get("type")
        if mtype not in ("Resource", "ContainerResource"):
            raise MetricsError(f"unable to get {mtype} metric: the custom and external metrics APIs "
                               "are not served by this cluster")
        src = m.get("resource") if mtype == "Resource" else m.get("containerResource")
        src = src or {}
        resource, container = src.get("name", ""), src.get("container", "") if mtype == "ContainerResource" else ""
        target = src.get("target") or {}
        samples = await self._samples(ns, selector, resource, container)
        kind = "container resource" if container else "resource"
        key = "resource" if mtype == "Resource" else "containerResource"
        ident: Obj = {"name": resource, **({"container": container} if container else {})}
        if target.get("type") == "AverageValue" and target.get("averageValue") is not None:
            replicas, raw = plain_replicas(current, milli_value(target["averageValue"]), resource, pods, samples,
                                           now_t, self.settings)
            return replicas, f"{resource} {kind}", {"type": mtype, key: {**ident, "current": {
                "averageValue": _fmt_milli(raw)}}}
        util_target = target.get("averageUtilization")
        if util_target is None:
            raise MetricsError("invalid resource metric source: neither a utilization target nor a value target was set")
        replicas, util, raw = resource_replicas(current, util_target, resource, container, pods, samples, now_t,
                                                self.settings)
        return replicas, f"{resource} {kind} utilization (percentage of request)", {"type": mtype, key: {
            **ident, "current": {"averageUtilization": util, "averageValue": _fmt_milli(raw)}}}

    async def fetch_pod_metrics(self, ns: str, selector: str) -> list[Obj]:
        """PodMetrics items from the resource metrics API (tests may substitute the source)."""
        data = await self.client.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods",
                                         params={"labelSelector": selector})
        return list((data or {}).get("items") or [])

    async def _samples(self, ns: str, selector: str, resource: str, container: str) -> dict[str, Sample]:
        try:
            items = await self.fetch_pod_metrics(ns, selector)
        except ApiStatusError as e:
            raise MetricsError(f"unable to get metrics for resource {resource}: unable to fetch metrics from "
                               f"resource metrics API: {e}") from e
        if not items:
            raise MetricsError(f"unable to get metrics for resource {resource}: no metrics returned from "
                               "resource metrics API")
        return {item["metadata"]["name"]: sample for item in items
                if (sample := pod_sample(item, resource, container)) is not None}


def pod_sample(item: Obj, resource: str, container: str) -> Sample | None:
    """One PodMetrics item as a Sample; None when the resource (or the container) is missing."""
    containers = item.get("containers") or []
    if container:
        containers = [c for c in containers if c.get("name") == container]
    if not containers:
        return None
    total = 0
    for c in containers:
        usage = (c.get("usage") or {}).get(resource)
        if usage is None:
            return None
        total += milli_value(usage)
    window = str(item.get("window") or "15s").rstrip("s")
    return Sample(total, parse_rfc3339(item["timestamp"]), float(window or 15))
