"""Prometheus metrics of one server process (prometheus-client), served by
``codeward serve --metrics HOST:PORT`` on ``/metrics``. Aggregates only: no text, no file
names, no user ids; labels are model versions, stages, outcomes, analyzer and rule ids.

Several editor windows on one machine each run their own server process. Each serves its
own endpoint: the first free port from PORT to PORT+15 (so 9464-9479 by default), and
writes a Prometheus file-based service-discovery target for it,
``$XDG_STATE_HOME/codeward/metrics-targets/<pid>.json`` (removed at exit); point a
``file_sd_configs`` job at ``*.json`` in that folder and every window is scraped, without a
local aggregator to keep running. Counters start at zero with each process; sum them over
``instance`` in queries (the Grafana dashboard in ``dashboards/`` does).

Metrics (all prefixed ``codeward_``): ``completions_requested_total{kind}``,
``completions_total{kind,outcome}`` (suggested, reused, blocked, empty, busy, stale,
cancelled, disabled, excluded, no-model, error), ``completions_shown_total``,
``completions_accepted_total``, ``completions_dismissed_total{reason}``,
``completion_stage_seconds{stage}`` (histogram: prompt, index, generation, vetting, total),
``completion_queue_depth``, ``vetting_blocks_total{analyzer,rule}``,
``event_queue_messages``, ``event_spill_rows``, ``event_store_up``, ``events_total{what}``
(written, spilled, dropped, ...), ``index_tokens``, ``index_ready``, ``model_info{model,
version}``, ``model_loaded``, and from the event store, every ``DRIFT_INTERVAL_S``:
``drift_drop{version,previous,metric}`` (1 = significant drop, see
:mod:`codeward.server.events.drift`) and ``drift_p_value{version,previous,metric}``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .activity import outcome, stage_ms
from .completion import CompletionRequest, CompletionResult

logger = logging.getLogger(__name__)

PORT_TRIES = 16
DRIFT_INTERVAL_S = 600.0
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0,
           5.0)


class Metrics:
    """The counters and histograms of the completion path, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requested = Counter("codeward_completions_requested", "Completion requests",
                                 ["kind"], registry=r)
        self.completions = Counter("codeward_completions", "Completion requests by outcome",
                                   ["kind", "outcome"], registry=r)
        self.shown = Counter("codeward_completions_shown", "Suggestions the client showed",
                             registry=r)
        self.accepted = Counter("codeward_completions_accepted",
                                "Suggestions accepted (fully or partly)", registry=r)
        self.dismissed = Counter("codeward_completions_dismissed", "Suggestions dismissed",
                                 ["reason"], registry=r)
        self.stages = Histogram("codeward_completion_stage_seconds",
                                "Time per completion stage", ["stage"], buckets=BUCKETS,
                                registry=r)
        self.blocks = Counter("codeward_vetting_blocks", "Candidates blocked, by the "
                              "analyzer and rule that blocked them", ["analyzer", "rule"],
                              registry=r)
        self.url = ""
        self.drift: DriftMonitor | None = None

    def watch(self, status: Callable[[], dict[str, Any]]) -> None:
        """Export the gauges of ``status()`` (read at each scrape)."""
        self.registry.register(StatusCollector(status))

    def watch_drift(self, store_url: str, checkpoints: list[float]) -> None:
        """Recompute drift from the event store in the background (see DriftMonitor)."""
        self.drift = DriftMonitor(store_url, checkpoints)
        self.drift.start()

    def drift_results(self) -> list[dict[str, Any]]:
        return self.drift.latest if self.drift is not None else []

    def finished(self, req: CompletionRequest, result: CompletionResult) -> None:
        kind = req.kind or "inline"
        self.requested.labels(kind).inc()
        self.completions.labels(kind, outcome(result)).inc()
        if result.reason not in ("disabled", "excluded", "cancelled", "error"):
            for stage, ms in stage_ms(result).items():
                self.stages.labels(stage).observe(ms / 1000)
        for cand in result.blocked:
            rules = {(str(f.get("analyzer") or "?"), str(f.get("rule_id") or "?"))
                     for f in cand.findings if f.get("action") == "block"}
            for analyzer, rule in rules or {("(status)", "error-or-timeout")}:
                self.blocks.labels(analyzer, rule).inc()

    def feedback(self, kind: str, params: dict[str, Any]) -> None:
        if kind == "show":
            self.shown.inc()
        elif kind == "accept":
            self.accepted.inc()
        elif kind == "dismiss":
            reason = params.get("reason")
            self.dismissed.labels(reason if reason in ("escape", "typed-over", "superseded",
                                                       "timeout") else "other").inc()


class StatusCollector(Collector):
    """Gauges read at scrape time from a status function (see :func:`status_families`)."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        try:
            yield from status_families(self.status())
        except Exception:  # a scrape never breaks the server
            logger.exception("metrics: reading the server status failed")


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None
           ) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    g.add_metric(list((labels or {}).values()), value)
    return g


def status_families(st: dict[str, Any]) -> Iterator[Metric]:
    """Queue depth, event writer, index, model and drift gauges from a status dict (the
    shape of ``Backend.status()`` plus ``queue_depth`` and ``drift``)."""
    yield _gauge("codeward_completion_queue_depth", "Requests queued or generating",
                 float(st.get("queue_depth", 0)))
    ev = st.get("events") or {}
    if ev.get("enabled"):
        yield _gauge("codeward_event_queue_messages", "Events waiting for the writer thread",
                     float(ev.get("queued", 0)) + float(ev.get("overflow", 0)))
        yield _gauge("codeward_event_spill_rows", "Event rows in the local spill journal",
                     float(ev.get("journal_pending", 0)))
        yield _gauge("codeward_event_store_up", "1 when the event store is reachable",
                     1.0 if ev.get("store_up") else 0.0)
        c = CounterMetricFamily("codeward_events", "Event writer counts", labels=["what"])
        for what in ("written", "spilled", "replayed", "dropped", "lost", "store_errors"):
            c.add_metric([what], float(ev.get(what, 0)))
        yield c
    index = st.get("index")
    if isinstance(index, dict) and index.get("enabled", True):
        yield _gauge("codeward_index_tokens", "Tokens in the project index",
                     float(index.get("tokens", 0) or 0))
        yield _gauge("codeward_index_ready", "1 when the project index is built",
                     1.0 if index.get("ready") else 0.0)
    model, version = st.get("model"), st.get("model_version")
    yield _gauge("codeward_model_loaded", "1 when a model is serving", 1.0 if model else 0.0)
    if model:
        yield _gauge("codeward_model_info", "The serving model", 1.0,
                     {"model": str(model), "version": str(version or "")})
    drifts = st.get("drift") or []
    if drifts:
        drop = GaugeMetricFamily("codeward_drift_drop", "1 when the version's acceptance or "
                                 "kept characters dropped significantly against the previous",
                                 labels=["version", "previous", "metric"])
        pval = GaugeMetricFamily("codeward_drift_p_value", "One-sided p-value of the drop",
                                 labels=["version", "previous", "metric"])
        for d in drifts:
            for metric in ("acceptance", "kept"):
                test = d[metric]
                labels = [d["version"], d["previous"], metric]
                drop.add_metric(labels, 1.0 if test["drop"] else 0.0)
                if test["p_value"] is not None:
                    pval.add_metric(labels, float(test["p_value"]))
        yield drop
        yield pval


class DriftMonitor:
    """Recomputes drift from the event store every ``interval`` seconds in a daemon
    thread (a scrape never waits for the store)."""

    def __init__(self, store_url: str, checkpoints: list[float],
                 interval: float = DRIFT_INTERVAL_S, since_days: float = 30.0) -> None:
        self.store_url, self.checkpoints = store_url, checkpoints
        self.interval, self.since_days = interval, since_days
        self.latest: list[dict[str, Any]] = []
        self._stop = threading.Event()

    def refresh(self) -> list[dict[str, Any]]:
        import time

        from .events.drift import drift
        from .events.outcomes import collect
        from .events.store import open_store

        store = open_store(self.store_url)
        try:
            rows = store.iter_events(time.time() - self.since_days * 86400)
            self.latest = [d.as_dict() for d in drift(collect(rows, self.checkpoints).positions)]
        finally:
            store.close()
        return self.latest

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.refresh()
                except Exception as exc:
                    logger.warning("metrics: drift from the event store failed: %s", exc)
                self._stop.wait(self.interval)

        threading.Thread(target=loop, name="codeward-drift", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def targets_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("codeward", appauthor=False)) / "metrics-targets"


def serve(metrics: Metrics, host: str, port: int, tries: int = PORT_TRIES) -> str:
    """Serve ``/metrics`` on the first free port from ``port`` (0: any free port); write the
    service-discovery target. Returns the URL; OSError when every port is taken."""
    from prometheus_client import start_http_server

    last: OSError | None = None
    for candidate in ([0] if port == 0 else range(port, port + tries)):
        try:
            server, _ = start_http_server(candidate, addr=host, registry=metrics.registry)
        except OSError as exc:
            last = exc
            continue
        bound = server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        metrics.url = f"http://{shown}:{bound}/metrics"
        _write_target(f"{shown}:{bound}")
        logger.info("metrics on %s", metrics.url)
        return metrics.url
    raise OSError(f"no free port for metrics in {port}-{port + tries - 1}: {last}")


def _write_target(address: str) -> None:
    import atexit

    folder = targets_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [address],
                                    "labels": {"job": "codeward", "pid": str(os.getpid())}}]),
                       "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("metrics: cannot write the discovery target in %s: %s", folder, exc)
        return
    atexit.register(lambda: path.unlink(missing_ok=True))
