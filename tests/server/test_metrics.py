"""Prometheus metrics: scraped from ``codeward serve --metrics`` during a real LSP session and
parsed with prometheus-client's own parser; two servers on one machine do not collide; the
live summary in ``codeward/status``; the Grafana dashboard asks only for real metrics."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from lsp_client import inline, open_doc, start_server, status

DASHBOARD = Path(__file__).parents[2] / "dashboards" / "codeward.grafana.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()  # noqa: S310 (loopback)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_metrics_during_a_real_session(tiny_model_dir: Path, tmp_path: Path,
                                             monkeypatch) -> None:
    port = _free_port()
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    args = ["--metrics", f"127.0.0.1:{port}"]
    client = await start_server(tiny_model_dir, env=env, args=args)
    other = None
    try:
        uri = (tmp_path / "mod.py").as_uri()
        open_doc(client, uri, "def add(a, b):\n    \n")
        open_doc(client, (tmp_path / ".env").as_uri(), "A=1\n")
        first = await inline(client, uri, 1, 4)
        cid = first.items[0].command.arguments[0]["id"]
        client.protocol.notify("codeward/didShowCompletion", {"id": cid, "index": 0})
        client.protocol.notify("codeward/didAcceptCompletion", {"id": cid, "index": 0})
        second = await inline(client, uri, 1, 4)
        sid = second.items[0].command.arguments[0]["id"]
        client.protocol.notify("codeward/didDismissCompletion",
                               {"id": sid, "index": 0, "reason": "escape"})
        assert not (await inline(client, (tmp_path / ".env").as_uri(), 0, 2)).items
        st = await status(client)
        assert st["metrics_url"] == f"http://127.0.0.1:{port}/metrics"

        m = _scrape(st["metrics_url"])
        assert _get(m, "codeward_completions_requested_total", kind="inline") == 3
        assert _get(m, "codeward_completions_total", kind="inline", outcome="suggested") == 2
        assert _get(m, "codeward_completions_total", kind="inline", outcome="excluded") == 1
        assert _get(m, "codeward_completions_shown_total") == 1
        assert _get(m, "codeward_completions_accepted_total") == 1
        assert _get(m, "codeward_completions_dismissed_total", reason="escape") == 1
        for stage in ("total", "index", "vetting"):
            assert _get(m, "codeward_completion_stage_seconds_count", stage=stage) == 2
        # the accepted suggestion answered the second request from the project index: the
        # model did not run for it
        for stage in ("prompt", "generation"):
            assert _get(m, "codeward_completion_stage_seconds_count", stage=stage) == 1
        assert _get(m, "codeward_completion_stage_seconds_sum", stage="total") > 0
        assert _get(m, "codeward_completion_queue_depth") == 0
        assert _get(m, "codeward_model_loaded") == 1
        assert _get(m, "codeward_model_info", model=st["model"],
                    version=st["model_version"]) == 1
        assert _get(m, "codeward_event_store_up") == 1
        assert ("codeward_event_spill_rows", ()) in m
        assert not any("def add" in str(k) for k in m)  # no text in any label

        activity = st["activity"]
        assert activity["requests"] == 3 and activity["outcomes"]["suggested"] == 2
        assert (activity["shown"], activity["accepted"], activity["dismissed"]) == (1, 1, 1)
        assert set(activity["last_latency_ms"]) >= {"total", "index", "vetting"}  # from the index
        assert activity["blocked_today"] == 0

        # a second editor window: same --metrics, next free port, its own discovery target
        other = await start_server(tiny_model_dir, env=env, args=args)
        url2 = (await status(other))["metrics_url"]
        assert url2 == f"http://127.0.0.1:{port + 1}/metrics"
        assert _get(_scrape(url2), "codeward_completions_shown_total") == 0  # its own counters
        targets = sorted(json.loads(p.read_text())[0]["targets"][0]
                         for p in (tmp_path / "state" / "codeward" / "metrics-targets").glob(
                             "*.json"))
        assert targets == [f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"]
    finally:
        await client.shutdown_session()
        if other is not None:
            await other.shutdown_session()
    folder = tmp_path / "state" / "codeward" / "metrics-targets"
    for _ in range(50):  # removed when each process exits
        if not list(folder.glob("*.json")):
            break
        await asyncio.sleep(0.1)
    assert not list(folder.glob("*.json"))

    # the same session's events, as the report reads them (real rows, not seeded ones)
    monkeypatch.setenv("XDG_DATA_HOME", env["XDG_DATA_HOME"])
    from codeward.server.events.config import EventSettings
    from codeward.server.events.outcomes import collect
    from codeward.server.events.store import open_store

    store = open_store(EventSettings().store_url())
    try:
        collected = collect(store.iter_events())
    finally:
        store.close()
    shown = [p for p in collected.positions if p.shown]
    assert len(shown) == 2 and sum(p.accepted for p in shown) == 1
    assert {p.model_version for p in shown} == {f"{st['model']}@{st['model_version']}"}
    assert all({"total", "prompt", "generation", "vetting"} <= set(p.latency) for p in shown)


def test_metrics_refuse_a_remote_address() -> None:
    done = subprocess.run([sys.executable, "-m", "codeward.server.cli", "serve", "--metrics",
                           "0.0.0.0:9464"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to bind 0.0.0.0 (--metrics)" in done.stderr


def test_dashboard_queries_real_metrics() -> None:
    from codeward.server.metrics import Metrics, status_families

    m = Metrics()
    names = {f.name for f in m.registry.collect()}
    status = {"queue_depth": 0, "model": "m", "model_version": "1",
              "events": {"enabled": True}, "index": {"tokens": 1, "ready": True},
              "drift": [{"version": "b", "previous": "a",
                         "acceptance": {"drop": True, "p_value": 0.001},
                         "kept": {"drop": False, "p_value": 0.5}}]}
    names |= {f.name for f in status_families(status)}
    assert "codeward_index_tokens" not in {f.name for f in status_families(
        {**status, "index": {"enabled": False}})}
    board = json.loads(DASHBOARD.read_text("utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = {re.sub(r"_(total|bucket|sum|count)$", "", n)
            for e in exprs for n in re.findall(r"\bcodeward_[a-z_]+", e)}
    assert used and used <= names, used - names


def test_drift_reaches_the_metrics(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "events"))
    from codeward.server.events.store import open_store
    from codeward.server.metrics import DriftMonitor, Metrics

    from seeded_events import Version, generate

    url = f"sqlite:///{tmp_path / 'e.db'}"
    rows, _ = generate([Version("m@v1", 0.3, n=500), Version("m@v2", 0.15, n=500, start_day=10)])
    store = open_store(url)
    store.write(rows)
    store.close()
    monitor = DriftMonitor(url, [30, 120, 600], since_days=100_000)
    m = Metrics()
    m.drift = monitor
    m.watch(lambda: {"drift": m.drift_results()})
    monitor.refresh()
    from prometheus_client import generate_latest

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(generate_latest(m.registry).decode())
               for s in f.samples}
    labels = (("metric", "acceptance"), ("previous", "m@v1"), ("version", "m@v2"))
    assert samples[("codeward_drift_drop", labels)] == 1
    assert samples[("codeward_drift_p_value", labels)] < 0.01
