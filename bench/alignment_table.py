"""The tables of ``bench/alignment_demo.sh``: per repository, part B's four arms (before /
policy only / model only / both) replayed on the same requests with 95% bootstrap intervals,
the policy's and the model's gate, and the CPU and wall seconds of every step.

Usage: python bench/alignment_table.py ROWS.jsonl   (rows written by the demo; Markdown)
       python bench/alignment_table.py row DIR PACKAGE SEED   (one row from a package's work
       dir: steps.txt, run.json, the registry, part B's decisions and event stores; JSON)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from codeward.finetune.simreplay import (
    gate_shows,
    has_prior_features,
    headroom,
    load,
    outcomes,
    paired,
    policy_shows,
    read_rows,
    summarize,
)
from codeward.server.showpolicy import current_policy, load_policy

ARMS = (("before", "gate, serving model"), ("policy", "policy, serving model"),
        ("model", "gate, fine-tuned model"), ("after", "policy + fine-tuned model"))


def steps(d: Path) -> dict[str, dict[str, float]]:
    out = {}
    for line in (d / "steps.txt").read_text("utf-8").splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.startswith("Command"):
            out[parts[0]] = {"wall_s": float(parts[1]),
                             "cpu_s": round(float(parts[2]) + float(parts[3]), 1)}
    return out


def _requests(d: Path, label: str) -> list[Any]:
    return load(d / f"{label}.decisions.jsonl", read_rows(f"sqlite:///{d}/events-{label}.db"))


def row(d: Path, package: str, seed: int) -> dict[str, Any]:
    run = json.loads((d / "run.json").read_text("utf-8")) if (d / "run.json").is_file() else {}
    registry = d / "registry"
    promoted = current_policy(registry)
    pol = run.get("policy") or {}
    candidate = load_policy(registry, pol["version"]) if pol.get("version") else None
    serving = _requests(d, "serving")
    tuned = _requests(d, "tuned") if (d / "tuned.decisions.jsonl").is_file() else serving
    try:  # the fine-tuned model's accepted multi-line suggestions skip the points they cover
        serving, tuned, unpaired = paired(serving, tuned)
    except ValueError as exc:
        raise SystemExit(f"{d}: part B with the serving and the fine-tuned model: {exc}") \
            from None
    # the server's default without a promoted policy: the gate prior since it shipped (runs
    # before it logged too few features for it: the thresholds, the default then)
    with_prior = has_prior_features(serving) and has_prior_features(tuned)
    gate = gate_shows(prior=with_prior)
    shows = policy_shows(promoted) if promoted else gate
    arms = {"before": outcomes(serving, gate), "policy": outcomes(serving, shows),
            "model": outcomes(tuned, gate), "after": outcomes(tuned, shows)}
    if with_prior:
        arms["thresholds gate, serving model"] = outcomes(serving, gate_shows(prior=False))
    if candidate is not None and promoted is None:  # what the refused policy would have done
        arms["policy (refused candidate)"] = outcomes(serving, policy_shows(candidate))
    train = json.loads((d / "train.json").read_text("utf-8"))
    mgate = run.get("gate") or {}
    return {"package": package, "seed": seed, "steps": steps(d),
            "before": "gate prior" if with_prior else "thresholds gate",
            "unpaired_requests": unpaired,
            "part_a": {k: train[k] for k in ("files", "requests", "shown", "accepted")},
            "run": {k: run.get(k) for k in ("status", "version", "reason", "timings", "train")},
            "show_policy": {k: pol.get(k) for k in ("status", "version", "reason", "gate",
                                                     "train")},
            "gate": {k: mgate.get(k) for k in ("baseline", "candidate", "passed", "reasons")},
            "arms": summarize(arms, "before", seed),
            "headroom": headroom(serving) if with_prior else None}


def _ci(r: dict[str, Any], key: str, fmt: str) -> str:
    lo, hi = r.get(key + "_ci") or (None, None)
    if lo is None or lo != lo:
        return ""
    return f" [{fmt.format(lo)}, {fmt.format(hi)}]"


def package_table(rec: dict[str, Any]) -> str:
    out = [f"**{rec['package']}** (seed {rec['seed']}; part A {rec['part_a']['files']} files, "
           f"{rec['part_a']['requests']} requests; before: {rec.get('before', 'gate')}"
           + (f"; {rec['unpaired_requests']} part-B requests made in one run only, left out"
              if rec.get("unpaired_requests") else "") + ")", "",
           "| part B | shown / requests | acceptance of shown [95% CI] | vs before "
           "(relative) | kept chars / position | vs before | insecure | ",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    titles = dict(ARMS)
    for name, r in rec["arms"].items():
        change = "" if name == "before" else (
            f"{r['acceptance_change']:+.0%}{_ci(r, 'acceptance_change', '{:+.0%}')}")
        kept = "" if name == "before" else (
            f"{r['kept_change']:+.2f}{_ci(r, 'kept_change', '{:+.2f}')}")
        out.append(f"| {titles.get(name, name)} | {r['shown']} / {r['requests']} | "
                   f"{r['acceptance_rate']:.1%}{_ci(r, 'acceptance_rate', '{:.1%}')} | "
                   f"{change} | {r['kept_per_position']:.2f}"
                   f"{_ci(r, 'kept_per_position', '{:.2f}')} | {kept} | "
                   f"{r['insecure_rate']:.1%} |")
    pol, run, gate = rec["show_policy"], rec["run"], rec.get("gate") or {}
    secrets = "not measured (no model trained)"
    if gate.get("candidate"):
        secrets = (f"{(gate.get('baseline') or {}).get('secret_emissions', '?')} -> "
                   f"{gate['candidate'].get('secret_emissions', '?')}")
    reasons = "; ".join((pol.get("gate") or {}).get("reasons") or []) or pol.get("reason") or ""
    out += ["", f"policy: {pol.get('status')} {pol.get('version') or ''} {reasons}".rstrip(),
            f"model: {run.get('status')} {run.get('version') or ''} "
            + "; ".join(gate.get("reasons") or [run.get("reason") or ""]),
            f"secret canaries (serving -> candidate): {secrets}",
            "seconds (CPU / wall): " + ", ".join(
                f"{k} {v['cpu_s']:.0f} / {v['wall_s']:.0f}" for k, v in rec["steps"].items())
            + f"; total CPU {sum(v['cpu_s'] for v in rec['steps'].values()):.0f}",
            f"finetune run parts (wall s): {run.get('timings')}"]
    room = rec.get("headroom")
    if room:
        best = "; ".join(f"kept >= {float(f):.0%} of before: {b['acceptance_change']:+.0%} "
                         f"(threshold {b['threshold']:.2f}, {b['shown']} shown, kept "
                         f"{b['kept_change']:+.2f})" for f, b in room["best"].items())
        pf = room["perfect_filter"]
        out.append(f"headroom of any show threshold on the gate prior (part B): {best}; a "
                   f"perfect filter of before's shown: {pf['acceptance_change']:+.0%} "
                   f"({pf['shown']} of {pf['of']} shown)")
    return "\n".join([*out, ""])


def _change(r: dict[str, Any]) -> str:
    return (f"{r['acceptance_change']:+.0%}{_ci(r, 'acceptance_change', '{:+.0%}')}, "
            f"{r['kept_change']:+.2f}{_ci(r, 'kept_change', '{:+.2f}')}")


def _room(rec: dict[str, Any]) -> str:
    best = ((rec.get("headroom") or {}).get("best") or {}).get("1.0")
    return f"{best['acceptance_change']:+.0%} (t {best['threshold']:.2f})" if best else ""


def summary(rows: list[dict[str, Any]]) -> str:
    """One line per repository: before, then each contribution against it (acceptance of
    shown: relative change; kept characters per position: change), and the CPU seconds."""
    out = ["| repository (before) | part B requests | before: acceptance, kept/position | "
           "policy only | model only | both | insecure (before -> both) | best threshold "
           "at kept >= before | CPU s: A, run, B | ",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for rec in rows:
        a, st = rec["arms"], rec["steps"]
        b = a["before"]
        cpu = ", ".join(f"{v['cpu_s']:.0f}" for k, v in st.items() if k != "replay")
        out.append(f"| {rec['package']} ({rec.get('before', 'gate')}) | {b['requests']} | "
                   f"{b['acceptance_rate']:.1%} ({b['shown']} shown), "
                   f"{b['kept_per_position']:.2f} | {_change(a['policy'])} | "
                   f"{_change(a['model'])} | {_change(a['after'])} | "
                   f"{b['insecure_rate']:.1%} -> {a['after']['insecure_rate']:.1%} | "
                   f"{_room(rec)} | {cpu} (total {sum(v['cpu_s'] for v in st.values()):.0f}) |")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1] == "row":
        print(json.dumps(row(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))  # noqa: T201
    else:
        recs = [json.loads(x) for x in Path(sys.argv[1]).read_text("utf-8").splitlines()
                if x.strip()]
        print(summary(recs) + "\n\n" + "\n".join(map(package_table, recs)))  # noqa: T201
