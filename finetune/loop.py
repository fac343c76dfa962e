"""``codeward finetune run`` (dataset -> train -> convert -> gate -> register -> promote, one
command, cron-able) and ``codeward finetune schedule`` (run it periodically when enough new
events arrived)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codeward.server.events.config import redact_url
from codeward.server.showpolicy import current_policy, policy_from_dict

from . import registry as reg
from .dataset import DatasetConfig, build, dataset_id, event_source, iter_events, write
from .flags import option
from .gate import GateConfig, gate_candidate
from .policygate import gate_policy
from .showpolicy import (
    NotEnoughExamples,
    PolicyConfig,
    examples,
    positions_by_file,
    split,
    split_files,
    train_policy,
)
from .train import NotEnoughData, TrainConfig, train

logger = logging.getLogger(__name__)

STATE = "loop_state.json"


@dataclass
class LoopConfig:
    events: str = option("", "event rows: a .jsonl file (codeward simulate --events) or an "
                             "event store (sqlite:///PATH, postgresql://...); default: the "
                             "user's event store, where codeward serve records",
                         metavar="SOURCE")
    registry: str | None = option(None, "registry directory (default: the user data dir)",
                                  metavar="DIR")
    work_dir: str = option("", "scratch folder for datasets and candidates (default: "
                               "REGISTRY/work)", metavar="DIR")
    base_model: str = option("", "converted model registered as the first version when the "
                                 "registry is empty (default: the shipped model)",
                             metavar="DIR")
    base_hf: str = option("", "its Hugging Face checkpoint (default: the manifest's source)",
                          metavar="DIR")
    promote: bool = option(True, "register the candidate but do not promote it")
    dataset: DatasetConfig = field(default_factory=DatasetConfig, metadata={
        "help": "how events become the dataset (its own options)", "cli": False})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={
        "help": "how the candidate is trained (its own options)", "cli": False})
    gate: GateConfig = field(default_factory=GateConfig, metadata={
        "help": "when the candidate may be promoted (its own options)", "cli": False})
    policy: PolicyConfig = field(default_factory=PolicyConfig, metadata={
        "help": "how the show/rank policy is trained and gated (its own options)",
        "cli": False})
    show_policy: bool = option(True, "do not train the show/rank policy in this cycle")


def run(cfg: LoopConfig, say: Any = None) -> dict[str, Any]:
    """One cycle. Returns what happened (``status``: promoted, refused, skipped, registered)."""
    say = say or (lambda msg: logger.info("%s", msg))
    t0 = time.perf_counter()
    source = event_source(cfg.events)
    base = reg.ensure_base(cfg.registry, Path(cfg.base_model) if cfg.base_model else None,
                           Path(cfg.base_hf) if cfg.base_hf else None)
    base_dir = reg.version_dir(cfg.registry, base)
    base_hf = base_dir / "hf"
    if not (base_hf / "config.json").is_file():
        raise reg.RegistryError(f"version {base} keeps no Hugging Face checkpoint ({base_hf})")
    from codeward.server.manifest import read_manifest

    manifest = read_manifest(base_dir / "model")
    cfg.dataset.family = manifest.family
    cfg.dataset.template = manifest.fim_template
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    work = Path(cfg.work_dir) if cfg.work_dir else reg.root_of(cfg.registry) / "work"
    work = work / stamp
    timings: dict[str, float] = {}

    say(f"[1/5] dataset from {redact_url(source)}")
    events = list(iter_events(source))
    last_at = max((float(e.get("at") or 0) for e in events), default=0.0)
    splits, report = build(events, cfg.dataset)
    ds_dir = write(work / "dataset", splits, report, cfg.dataset, redact_url(source), len(events),
                   last_at)
    say(report.table())
    timings["dataset_s"] = time.perf_counter() - t0
    result: dict[str, Any] = {"base_version": base, "dataset": str(ds_dir),
                              "dataset_id": dataset_id(ds_dir), "events": len(events),
                              "last_event_at": last_at, "kept": {k: len(v) for k, v in
                                                                 splits.items()}}
    if cfg.show_policy:
        t = time.perf_counter()
        result["policy"] = policy_cycle(cfg, events, base, result["dataset_id"],
                                        redact_url(source), say)
        timings["policy_s"] = time.perf_counter() - t

    say(f"[2/5] training on {base} ({base_hf})")
    t = time.perf_counter()
    try:
        trained = train(base_hf, ds_dir, work / "hf", cfg.train, adapter_dir=work / "adapter")
    except NotEnoughData as exc:
        say(f"skipped: {exc}")
        _save_state(cfg, last_at, len(events), None, "skipped")
        timings["total_s"] = time.perf_counter() - t0
        return {**result, "status": "skipped", "reason": str(exc),
                "timings": {k: round(v, 1) for k, v in timings.items()}}
    timings["train_s"] = time.perf_counter() - t
    result["train"] = trained.to_dict()
    say(f"      {trained.method}: {trained.steps} steps in {trained.seconds:.1f} s, "
        f"loss {trained.losses[0]:.4f} -> {trained.losses[-1]:.4f}" if trained.losses else "")

    version = reg.next_version(cfg.registry)
    say(f"[3/5] converting to CTranslate2 as {version}")
    t = time.perf_counter()
    from .convert import convert

    convert(work / "hf", work / "model", family=manifest.family, name=manifest.name,
            version=version, quantization=manifest.quantization or "int8",
            extra={"base_version": base, "dataset_id": result["dataset_id"]})
    timings["convert_s"] = time.perf_counter() - t

    say("[4/5] gate: candidate against the serving model")
    t = time.perf_counter()
    gate = gate_candidate(base_dir / "model", base_hf, work / "model", work / "hf", ds_dir,
                          cfg.gate)
    timings["gate_s"] = time.perf_counter() - t
    say(gate.table())
    result["gate"] = gate.to_dict()

    say(f"[5/5] registering {version}")
    reg.add_version(cfg.registry, work / "model", hf_dir=work / "hf", version=version,
                    base_version=base, move=True, metrics=gate.to_dict(),
                    adapter_dir=work / "adapter",
                    dataset={"id": result["dataset_id"], "path": str(ds_dir),
                             "source": redact_url(source), "events": len(events),
                             "method": trained.method})
    status = _settle(gate.passed, cfg.promote,
                     lambda: reg.promote(cfg.registry, version, reason="gate passed"))
    timings["total_s"] = time.perf_counter() - t0
    result.update(version=version, status=status, timings={k: round(v, 1)
                                                            for k, v in timings.items()})
    _save_state(cfg, last_at, len(events), version, status)
    say(f"{status}: {version} (base {base}) in {timings['total_s']:.0f} s")
    return result


def _settle(passed: bool, promote: bool, do_promote: Callable[[], Any]) -> str:
    """A registered candidate's status: ``promoted`` (gate passed, promotion asked: done
    here), ``registered`` (passed, not asked) or ``refused``."""
    if not passed:
        return "refused"
    if promote:
        do_promote()
        return "promoted"
    return "registered"


def policy_cycle(cfg: LoopConfig, events: list[dict[str, Any]], model_version: str,
                 data_id: str, source: str, say: Any) -> dict[str, Any]:
    """Train the show/rank policy on the logs but those of held-out files, gate it on the
    held-out (latest) part and on the held-out files against the served one, register it as
    ``pN`` and promote it if it passed."""
    say("[policy] show/rank policy from the logs")
    every, positions = examples(events)
    exs, held_files, positions, files_positions = split_files(
        every, positions_by_file(events), cfg.policy.heldout_files_share, cfg.policy.seed)
    try:
        trained = train_policy(exs, positions, cfg.policy)
    except NotEnoughExamples as exc:
        say(f"      skipped: {exc}")
        return {"status": "skipped", "reason": str(exc)}
    train_part, held, _, held_positions = split(exs, positions, cfg.policy.holdout_share)
    serving = current_policy(cfg.registry)
    gate = gate_policy(policy_from_dict(trained.policy, "candidate"), serving, train_part,
                       held, held_positions, cfg.policy,
                       files=(held_files, files_positions))
    say(gate.table())
    version = reg.add_policy(cfg.registry, trained.policy,
                             metrics={"train": trained.report, "gate": gate.to_dict()},
                             dataset={"id": data_id, "source": source, "events": len(events)},
                             model_version=model_version)
    status = _settle(gate.passed, cfg.promote,
                     lambda: reg.promote_policy(cfg.registry, version,
                                                reason="policy gate passed"))
    say(f"      policy {status}: {version} ({trained.report['examples']} examples, "
        f"threshold {trained.policy['threshold']:.2f}, {trained.report['seconds']:.1f} s)")
    return {"status": status, "version": version, "train": trained.report,
            "gate": gate.to_dict(), "serving": serving.version if serving else None}


def _save_state(cfg: LoopConfig, last_at: float, events: int, version: str | None,
                status: str) -> None:
    path = reg.root_of(cfg.registry) / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"at": time.time(), "last_event_at": last_at, "events": events,
                                "version": version, "status": status}, indent=2) + "\n", "utf-8")


def load_state(registry: str | None) -> dict[str, Any]:
    path = reg.root_of(registry) / STATE
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def parse_every(value: str) -> float:
    """``24h``, ``30m``, ``90s``, ``2d`` or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = value.strip().lower()
    try:
        if value and value[-1] in units:
            seconds = float(value[:-1]) * units[value[-1]]
        else:
            seconds = float(value)
    except ValueError:
        raise ValueError(f"--every {value!r}: expected a number with s, m, h or d") from None
    if seconds <= 0:
        raise ValueError("--every must be positive")
    return seconds


def count_new_events(cfg: LoopConfig) -> int:
    since = load_state(cfg.registry).get("last_event_at")
    return sum(1 for e in iter_events(cfg.events, since=since) if e.get("type") == "completion")


def schedule(cfg: LoopConfig, every_s: float, min_new_events: int,
             max_runs: int | None = None, say: Any = None,
             sleep: Any = time.sleep) -> list[dict[str, Any]]:
    """Check every ``every_s`` seconds; run a cycle when ``min_new_events`` new completion
    events arrived since the last run. A failing cycle is logged and retried next time."""
    say = say or (lambda msg: logger.info("%s", msg))
    results: list[dict[str, Any]] = []
    checks = 0
    while max_runs is None or checks < max_runs:
        checks += 1
        try:
            fresh = count_new_events(cfg)
            if fresh >= min_new_events:
                say(f"{fresh} new completion events: running a cycle")
                results.append(run(cfg, say))
            else:
                say(f"{fresh} new completion events (< {min_new_events}): waiting")
                results.append({"status": "waiting", "new_events": fresh})
        except Exception as exc:
            logger.exception("fine-tuning cycle failed")
            results.append({"status": "error", "error": str(exc)})
        if max_runs is None or checks < max_runs:
            sleep(every_s)
    return results
