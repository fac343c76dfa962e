"""Vetting end to end through the real server (pytest-lsp over stdio, the tiny model).

- the model's insecure completion (``os.system(cmd)``) is not shown, and
  ``codeward/explain`` returns it under ``blocked`` with the bandit and security rule ids;
- a suggestion the project's settings annotate (a naming rule in ``.codeward.toml``) is
  shown with its findings in the inline item's command arguments, and explain returns them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from lsp_client import inline, open_doc, request, start_server, status  # noqa: E402

EXPLAIN = "codeward/explain"


def _rules(findings: list[dict]) -> set[str]:
    return {f["rule_id"] for f in findings}


async def test_insecure_completion_is_blocked_and_explained(tiny_model_dir: Path,
                                                            tmp_path: Path) -> None:
    uri = (tmp_path / "run.py").as_uri()
    client = await start_server(tiny_model_dir)
    try:
        open_doc(client, uri, "import os\n\ndef run(cmd):\n    \n")
        result = await inline(client, uri, 3, 4)
        assert list(result.items) == []
        explained = await request(client, EXPLAIN, {})
        assert explained["found"] and explained["reason"] == "blocked", explained
        assert explained["candidates"] == []
        [blocked] = [c for c in explained["blocked"] if "os.system(cmd)" in c["text"]]
        assert blocked["action"] == "block"
        rules = _rules(blocked["findings"])
        assert "B605" in rules  # bandit: shell injection via os.system
        assert "CW-SEC-001" in rules  # our own shell rule
        by_rule = {f["rule_id"]: f for f in blocked["findings"]}
        assert by_rule["B605"]["analyzer"] == "bandit"
        assert by_rule["B605"]["reference"].startswith("https://cwe.mitre.org/")
        assert blocked["statuses"]["bandit"] == "ok"
        # the same completion by id
        again = await request(client, EXPLAIN, {"id": explained["id"]})
        assert again["blocked"] == explained["blocked"]
        assert (await request(client, EXPLAIN, {"id": "no-such-id"}))["found"] is False
    finally:
        await client.shutdown_session()


async def test_annotated_completion_carries_findings(tiny_model_dir: Path,
                                                     tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text(
        '[analyzers.naming]\nforbidden_names = ["b"]\nforbidden_action = "annotate"\n')
    uri = (tmp_path / "add.py").as_uri()
    client = await start_server(tiny_model_dir)
    try:
        open_doc(client, uri, "def add(a, b):\n    \n")
        result = await inline(client, uri, 1, 4)
        assert [i.insert_text for i in result.items] == ["return a + b"]
        data = result.items[0].command.arguments[0]
        assert data["action"] == "annotate"
        [naming] = [f for f in data["findings"] if f["rule_id"] == "CW-NAME-FORBIDDEN"]
        assert naming["analyzer"] == "naming" and naming["line"] == 1
        assert "'b'" in naming["message"] or "b" in naming["message"]
        explained = await request(client, EXPLAIN, {"id": data["id"]})
        assert explained["found"] and explained["blocked"] == []
        [cand] = explained["candidates"]
        assert cand["text"] == "return a + b" and cand["action"] == "annotate"
        assert cand["findings"] == data["findings"]
        assert "analyzers" in await status(client)
    finally:
        await client.shutdown_session()


async def test_same_completion_without_the_rule_is_not_annotated_by_naming(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    """The control for the test above: the finding comes from the project's rule."""
    uri = (tmp_path / "add.py").as_uri()
    client = await start_server(tiny_model_dir)
    try:
        open_doc(client, uri, "def add(a, b):\n    \n")
        result = await inline(client, uri, 1, 4)
        assert [i.insert_text for i in result.items] == ["return a + b"]
        data = result.items[0].command.arguments[0]
        assert "CW-NAME-FORBIDDEN" not in _rules(data.get("findings", []))
    finally:
        await client.shutdown_session()
