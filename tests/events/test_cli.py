"""``codeward events export | delete | stats | purge``."""

from __future__ import annotations

import json
import time
import uuid

from codeward.server.cli import main
from codeward.server.events.store import open_store


def _rows() -> list[dict]:
    now, out = time.time(), []
    for i, (lang, repo, user) in enumerate([("python", "r1", "u1"), ("python", "r2", "u2"),
                                            ("go", "r1", "u1")]):
        cid = f"c{i}"
        base = {"completion_id": cid, "candidate_index": 0, "language": lang,
                "model_version": "m@1", "repo_hash": repo, "user_hash": user}
        at = now - (40 * 86400 if i == 2 else 0)
        out += [{"type": "completion", "event_id": uuid.uuid4().hex, "at": at, **base,
                 "latency_ms": 100.0 + i, "blocked": False, "suggestion": "x = 1"},
                {"type": "show", "event_id": uuid.uuid4().hex, "at": at, **base}]
        if i < 2:
            out += [{"type": "accept", "event_id": uuid.uuid4().hex, "at": at, **base,
                     "accepted_length": 10, "partial": False},
                    {"type": "survival", "event_id": uuid.uuid4().hex, "at": at, **base,
                     "after_s": 30.0, "accepted_chars": 10, "kept_chars": 10 - 4 * i}]
    return out


def test_export_stats_delete(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    store = open_store(url)
    store.write(_rows())
    store.close()
    out = tmp_path / "x.jsonl"
    assert main(["events", "export", "--store", url, "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 10
    assert main(["events", "export", "--store", url, "--type", "accept"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["events", "stats", "--store", url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"]["shown"] == 3 and stats["total"]["accepted"] == 2
    assert stats["total"]["acceptance_rate"] == round(2 / 3, 4)
    assert (stats["total"]["accepted_chars"], stats["total"]["kept_chars"]) == (20, 16)
    by = {g["language"]: g for g in stats["by_language_model"]}
    assert by["go"]["acceptance_rate"] == 0 and by["python"]["acceptance_rate"] == 1
    assert main(["events", "stats", "--store", url]) == 0
    assert "TOTAL" in capsys.readouterr().out
    assert main(["events", "delete", "--store", url]) == 2
    assert main(["events", "delete", "--store", url, "--older-than", "30"]) == 0
    assert main(["events", "delete", "--store", url, "--repo-hash", "r2"]) == 0
    assert main(["events", "delete", "--store", url, "--user", "nobody"]) == 0
    store = open_store(url)
    assert {r["repo_hash"] for r in store.iter_events()} == {"r1"}
    assert store.count() == 4
    store.close()
    assert main(["events", "purge", "--store", url, "--retention-days", "1"]) == 0


def test_store_problems_are_one_line_and_create_nothing(tmp_path, capsys) -> None:
    typo = tmp_path / "no-such-dir" / "events.db"
    for url, says in ((f"sqlite:///{typo}", "does not exist"), ("foo://bar", "scheme 'foo'"),
                      ("postgresql://127.0.0.1:1/none?connect_timeout=2", "cannot connect")):
        assert main(["events", "stats", "--store", url]) == 1
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not typo.parent.exists()
