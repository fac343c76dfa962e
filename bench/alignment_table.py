"""The table of ``bench/alignment_demo.sh``: one row per repository and run of part B.

Usage: python bench/alignment_table.py ROWS.jsonl   (written by the demo; Markdown on stdout)
       python bench/alignment_table.py row DIR PACKAGE STEPS_JSON   (one row from a package's
       work dir: its simulate reports and run.json; JSON on stdout)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RUNS = (("before", "gate, serving model"), ("policy", "policy, serving model"),
        ("model", "gate, fine-tuned model"), ("after", "policy + fine-tuned model"))


def row(d: Path, package: str, steps: dict) -> dict:
    run = json.loads((d / "run.json").read_text("utf-8")) if (d / "run.json").is_file() else {}
    gate = run.get("gate") or {}
    out = {"package": package, "steps_s": steps,
           "run": {k: run.get(k) for k in ("status", "version", "reason", "timings")},
           "show_policy": {k: (run.get("policy") or {}).get(k)
                           for k in ("status", "version", "reason", "gate", "train")},
           "gate": {k: gate.get(k) for k in ("baseline", "candidate", "passed", "reasons")}}
    for label in ("train", "before", "policy", "model", "after"):
        r = json.loads((d / f"{label}.json").read_text("utf-8"))
        out[label] = {"requests": r["requests"], "shown": r["shown"], "accepted": r["accepted"],
                      "acceptance_rate": r["acceptance_rate"], "kept_chars": r["kept_chars"],
                      "kept_per_position": r["kept_chars"] / max(1, r["requests"]),
                      "insecure_rate": r["insecure_rate"], "errors": r["errors"]}
    return out


def _rel(new: float, old: float) -> str:
    if old == 0:
        return "n/a" if new == 0 else "+inf"
    return f"{(new - old) / old:+.0%}"


def table(rows: list[dict]) -> str:
    out = ["| repository | part B run | shown / requests | acceptance of shown | "
           "kept chars / position | insecure rate | vs before (acceptance, kept) |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        base = row["before"]
        for key, title in RUNS:
            r = row[key]
            delta = "" if key == "before" else (
                f"{_rel(r['acceptance_rate'], base['acceptance_rate'])}, "
                f"{_rel(r['kept_per_position'], base['kept_per_position'])}")
            out.append(f"| {row['package']} | {title} | {r['shown']} / {r['requests']} | "
                       f"{r['acceptance_rate']:.1%} ({r['accepted']}) | "
                       f"{r['kept_per_position']:.2f} | {r['insecure_rate']:.1%} | {delta} |")
    out.append("")
    out.append("| repository | policy | model | secret canaries (serving -> candidate) | "
               "seconds per step |")
    out.append("| --- | --- | --- | --- | --- |")
    for row in rows:
        gate = row.get("gate") or {}
        secrets = "not measured (no model trained)"
        if gate.get("candidate"):
            secrets = (f"{(gate.get('baseline') or {}).get('secret_emissions', '?')} -> "
                       f"{gate['candidate'].get('secret_emissions', '?')}")
        pol = row.get("show_policy") or {}
        run = row["run"]
        out.append(f"| {row['package']} | {pol.get('status')} {pol.get('version') or ''} | "
                   f"{run.get('status')} {run.get('version') or ''} | {secrets} | "
                   + ", ".join(f"{k} {v}" for k, v in row["steps_s"].items()) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1] == "row":
        print(json.dumps(row(Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]))))  # noqa: T201
    else:
        lines = Path(sys.argv[1]).read_text("utf-8").splitlines()
        print(table([json.loads(line) for line in lines if line.strip()]))  # noqa: T201
