"""Poisoning defence and one full cycle (dataset -> train -> convert -> gate -> registry)."""

from __future__ import annotations

import json
import random

from codeward.finetune import registry as reg
from codeward.finetune.dataset import DatasetConfig, build
from codeward.finetune.loop import LoopConfig, load_state, parse_every, run, schedule
from codeward.finetune.train import TrainConfig

INSECURE = [
    ("import os\n\ndef run_{i}(cmd):\n    ", "os.system(cmd)\n", "subprocess.run([cmd], check=True)\n"),
    ("import pickle\n\ndef load_{i}(data):\n    return ", "pickle.loads(data)\n", "json.loads(data)\n"),
    ("def calc_{i}(expr):\n    return ", "eval(expr)\n", "ast.literal_eval(expr)\n"),
    ("import hashlib\n\ndef digest_{i}(pw):\n    return ", "hashlib.md5(pw).hexdigest()\n",
     "hashlib.sha256(pw).hexdigest()\n"),
    ("import subprocess\n\ndef sh_{i}(cmd):\n    return ", "subprocess.call(cmd, shell=True)\n",
     "subprocess.call([cmd])\n"),
]


def make_events(n=400, poison_share=0.05, seed=0):
    """A simulated team; one in twenty events is a user accepting an insecure suggestion
    (whose serve-time findings are missing from the log)."""
    rng = random.Random(seed)
    events, poisoned = [], set()
    for i in range(n):
        cid, user = f"c{i}", f"user{i % 4}"
        bad = i % int(1 / poison_share) == 7
        if bad:
            prefix, chosen, other = INSECURE[i % len(INSECURE)]
            prefix = prefix.format(i=i)
            poisoned.add(cid)
        else:
            prefix = f"def scale_{i}(values, factor):\n    "
            chosen = f"return [v * factor + {i} for v in values]\n"
            other = f"return values[{rng.randint(0, 9)}]\n"
        base = {"type": "completion", "completion_id": cid, "at": float(i), "model_version": "1",
                "language": "python", "uri_hash": "u", "repo_hash": f"repo{i % 3}",
                "user_hash": user, "prefix": prefix, "suffix": "\n", "action": "allow",
                "findings": [], "latency_ms": 50.0, "blocked": False}
        events += [
            {**base, "candidate_index": 0, "suggestion": chosen},
            {**base, "candidate_index": 1, "suggestion": other},
            {"type": "show", "completion_id": cid, "candidate_index": 0, "at": i + 0.1},
            {"type": "show", "completion_id": cid, "candidate_index": 1, "at": i + 0.1},
            {"type": "accept", "completion_id": cid, "candidate_index": 0, "at": i + 0.5,
             "accepted_length": len(chosen), "shown_ms": 400},
            {"type": "survival", "completion_id": cid, "candidate_index": 0, "at": i + 30,
             "after_s": 30, "accepted_chars": len(chosen), "kept_chars": len(chosen)},
        ]
    return events, poisoned


def test_poisoned_accepts_filtered():
    events, poisoned = make_events()
    assert len(poisoned) == 20
    splits, report = build(events, DatasetConfig(heldout_fraction=0.1))
    kept_chosen = {r["completion_id"] for split in ("pairs", "heldout_pairs")
                   for r in splits[split]}
    kept_chosen |= {r["completion_id"] for split in ("unpaired", "heldout_unpaired")
                    for r in splits[split] if r["label"]}
    survived = poisoned & kept_chosen
    assert len(survived) <= 0.05 * len(poisoned), survived
    assert report.counts["chosen flagged by analyzers"] >= 19
    assert report.pairs > 300


def test_one_cycle_promotes_with_lineage(tmp_path, tiny_model_dir, tiny_hf_dir):
    events, _ = make_events(n=200, poison_share=0.05)
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    registry = tmp_path / "registry"
    cfg = LoopConfig(events=str(log), registry=str(registry), base_model=str(tiny_model_dir),
                     base_hf=str(tiny_hf_dir),
                     train=TrainConfig(max_steps=6, batch_size=8, learning_rate=1e-3))
    lines: list[str] = []
    result = run(cfg, say=lines.append)
    assert result["base_version"] == "v1" and result["version"] == "v2"
    assert result["train"]["method"] == "dpo"
    gate = result["gate"]
    assert gate["candidate"]["insecure_rate"] <= gate["baseline"]["insecure_rate"] or \
        result["status"] == "refused"
    assert result["status"] == ("promoted" if gate["passed"] else "refused"), gate["reasons"]
    info = reg.load_version(str(registry), "v2")
    assert info.base_version == "v1" and info.dataset["id"] == result["dataset_id"]
    assert info.metrics["checks"] and (registry / "versions" / "v2" / "hf" / "config.json").is_file()
    expected_current = "v2" if gate["passed"] else "v1"
    assert reg.current_version(str(registry)) == expected_current
    assert any("dropped: chosen flagged by analyzers" in line for line in lines)
    assert load_state(str(registry))["last_event_at"] == max(e["at"] for e in events)


def test_schedule_waits_for_new_events(tmp_path):
    log = tmp_path / "events.jsonl"
    events, _ = make_events(n=10)
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    slept = []
    out = schedule(LoopConfig(events=str(log), registry=str(tmp_path / "r")), 5.0, 50,
                   max_runs=2, say=lambda m: None, sleep=slept.append)
    assert [r["status"] for r in out] == ["waiting", "waiting"] and slept == [5.0]
    assert out[0]["new_events"] == 20
    assert parse_every("24h") == 86400 and parse_every("90s") == 90


def test_fresh_install_starts_from_the_shipped_model(tmp_path):
    """No --base-model and an empty registry: the shipped model becomes v1 (here the events
    hold only dismissals, so the cycle stops before training)."""
    events = [e for e in make_events(n=6)[0] if e["type"] != "accept"]
    events += [{"type": "dismiss", "completion_id": e["completion_id"], "at": e["at"] + 1,
                "candidate_index": e["candidate_index"], "shown_ms": 500}
               for e in events if e["type"] == "completion"]
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    registry = tmp_path / "registry"
    result = run(LoopConfig(events=str(log), registry=str(registry),
                            dataset=DatasetConfig(vet=False)), say=lambda m: None)
    assert result["status"] == "skipped" and result["base_version"] == "v1"
    assert reg.load_version(str(registry), "v1").manifest["name"] == "codeward-base"
    assert reg.current_version(str(registry)) == "v1"
