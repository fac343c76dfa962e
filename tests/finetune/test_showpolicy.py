"""The show/rank policy, learning side: trained on seeded logs it beats a constant predictor
on held-out logs and the confidence gate on acceptance; a worse policy is not promoted; the
registry versions policies beside the models."""

from __future__ import annotations

import json

import pytest
from policy_logs import seeded_logs

from codeward.finetune import registry as reg
from codeward.finetune.loop import LoopConfig, policy_cycle
from codeward.finetune.policygate import constant_score, evaluate, gate_policy
from codeward.finetune.showpolicy import (
    Example,
    NotEnoughExamples,
    PolicyConfig,
    examples,
    log_likelihood,
    split,
    split_files,
    train_policy,
)
from codeward.server.showpolicy import (
    FORMAT,
    current_policy,
    current_policy_version,
    policy_from_dict,
)


def _trained(rows, cfg=None):
    cfg = cfg or PolicyConfig()
    exs, positions = examples(rows)
    trained = train_policy(exs, positions, cfg)
    return exs, positions, trained, policy_from_dict(trained.policy, "cand")


def test_examples_join_features_feedback_and_survival():
    rows = seeded_logs(40)
    exs, positions = examples(rows)
    assert positions == 40  # withheld positions count in the denominator
    assert len(exs) == 2 * 36  # two shown candidates per position that was not withheld
    accepted = [e for e in exs if e.accepted]
    assert accepted and all(e.measured and e.accepted_chars > 0 for e in accepted)
    assert sum(r["type"] == "accept" for r in rows) == len(accepted)
    assert all("source" in e.features for e in exs)


def test_policy_beats_the_constant_and_the_gate_on_held_out_logs():
    cfg = PolicyConfig()
    exs, positions, trained, policy = _trained(seeded_logs(1000, seed=1), cfg)
    train, held, _, held_positions = split(exs, positions, cfg.holdout_share)
    assert {e.completion_id for e in train}.isdisjoint(e.completion_id for e in held)
    assert max(e.at for e in train) < min(e.at for e in held)  # held out = the latest
    p = constant_score(train, cfg.keep_share)
    const = log_likelihood(held, lambda e: p, cfg.keep_share)
    got = evaluate(policy, held, held_positions, cfg.keep_share)
    assert got["log_likelihood"] > const + 0.05
    gate = evaluate(None, held, held_positions, cfg.keep_share)
    assert got["acceptance_rate"] >= gate["acceptance_rate"]
    assert got["kept_chars_per_position"] >= gate["kept_chars_per_position"]
    # interpretable: the features the rule is made of carry the weight the rule gives them
    w = trained.policy["models"]["*"]["weights"]
    assert w["vote_share"] > 0 and w["log_match_tokens"] > 0 and w["mean_logprob"] > 0
    # per project, with the pooled data as prior: copies are accepted more in p2
    assert set(trained.report["projects"]) == {"p1", "p2"}
    copies = [e.features for e in exs if e.features["source"] == "index"]
    assert sum(policy.score(f, "p2") - policy.score(f, "p1") for f in copies) > 0
    assert policy.score(copies[0], "unseen") == policy.score(copies[0], None)  # the global
    assert trained.report["seconds"] < 60  # seconds on a loaded 2-core machine
    assert gate_policy(policy, None, train, held, held_positions, cfg).passed


def test_too_few_examples_is_a_clear_refusal():
    with pytest.raises(NotEnoughExamples, match="needs at least"):
        _trained(seeded_logs(10))


def test_a_worse_policy_is_registered_but_not_promoted(tmp_path):
    r = tmp_path / "reg"
    cfg = LoopConfig(registry=str(r))
    good = policy_cycle(cfg, seeded_logs(1000, seed=2), "v1", "d1", "test", print)
    assert good["status"] == "promoted" and current_policy_version(r) == good["version"]
    # logs whose training part teaches nothing true (labels at random), held-out part real
    noise = seeded_logs(700, seed=3, shuffle_labels=True)
    real = seeded_logs(300, seed=4, t0=1_790_000_000.0)
    worse = policy_cycle(cfg, noise + real, "v1", "d2", "test", print)
    assert worse["status"] == "refused", worse["gate"]
    assert worse["gate"]["reasons"]
    assert current_policy_version(r) == good["version"]  # the good one keeps deciding
    assert [p["version"] for p in reg.list_policies(r)] == ["p1", "p2"]
    assert current_policy(r).version == "p1"
    meta = json.loads((r / "policies" / "p2" / "version.json").read_text())
    assert meta["metrics"]["gate"]["passed"] is False and meta["model_version"] == "v1"


def test_policy_registry_promote_rollback_and_bad_files(tmp_path):
    r = tmp_path / "reg"
    _, _, trained, _ = _trained(seeded_logs(300))
    p1 = reg.add_policy(r, trained.policy, metrics={}, dataset={})
    p2 = reg.add_policy(r, {**trained.policy, "threshold": 0.9}, metrics={}, dataset={})
    reg.promote_policy(r, p1)
    reg.promote_policy(r, p2)
    assert current_policy(r).threshold == 0.9
    assert reg.rollback_policy(r) == "p1" and current_policy(r).version == "p1"
    with pytest.raises(reg.RegistryError, match="threshold"):
        reg.add_policy(r, {**trained.policy, "threshold": 2}, metrics={}, dataset={})
    (r / "policies" / "p2" / "policy.json").write_text("{not json")
    with pytest.raises(reg.RegistryError, match="unreadable"):
        reg.promote_policy(r, "p2")
    assert current_policy_version(r) == "p1"


def _ex(cid, gated, accepted, file, kept=10):
    return Example(cid, 0, 0.0, "p", {"source": "index"}, accepted=accepted,
                   kept=kept if accepted else 0, accepted_chars=kept if accepted else 0,
                   measured=True, gated=gated, file=file)


def _replay_reasons(gate):
    return [r for r in gate.reasons if not r.startswith("log-likelihood")]


def test_a_policy_worse_on_held_out_files_is_not_promoted():
    """Equal to the gate on the held-out logs, worse on the held-out files: refused."""
    shows_all = policy_from_dict({"format": FORMAT, "threshold": 0.5,
                                  "models": {"*": {"intercept": 10.0, "weights": {}}}}, "c")
    train = [_ex(f"t{i}", True, i % 2 == 0, "a") for i in range(10)]
    held = [_ex(f"h{i}", True, i % 2 == 0, "a") for i in range(60)]
    # on the held-out file the gate withholds the copies the developer would not take
    files = ([_ex(f"f{i}", i % 2 == 0, i % 2 == 0, "b") for i in range(60)], 60)
    cfg = PolicyConfig()
    ok = gate_policy(shows_all, None, train, held, 60, cfg)
    assert _replay_reasons(ok) == []  # (a constant score: its log-likelihood refuses it)
    gate = gate_policy(shows_all, None, train, held, 60, cfg, files=files)
    assert not gate.passed
    assert _replay_reasons(gate) == [
        "held-out logs and files: acceptance rate of shown 50.0% vs 66.7%: change -25% "
        "[-33%, -18%] is below -10%",
        "held-out logs and files: acceptance rate of shown drops: change -25% [-33%, -18%]",
        "held-out files: acceptance rate of shown drops: change -50% [-63%, -38%]"]
    assert gate.files_serving["acceptance_rate"] == 1.0
    assert gate.files_change["acceptance_change"] == -0.5
    assert "held-out files" in gate.table()


def test_the_policy_gate_needs_evidence_and_tolerates_noise():
    """A candidate equal to serving but for one unlucky position passes on enough positions
    (inside the margin's interval); on too few shown positions nothing is judged: refused;
    a real drop of kept characters is refused."""
    shows_all = policy_from_dict({"format": FORMAT, "threshold": 0.5,
                                  "models": {"*": {"intercept": 10.0, "weights": {}}}}, "c")
    cfg = PolicyConfig()
    train = [_ex(f"t{i}", True, i % 2 == 0, "a") for i in range(10)]
    # serving withholds one position the developer would dismiss: the candidate shows it
    held = [_ex(f"h{i}", i != 0, i % 3 != 0, "a") for i in range(300)]
    noisy = gate_policy(shows_all, None, train, held, 300, cfg)
    assert noisy.candidate["acceptance_rate"] < noisy.serving["acceptance_rate"]
    assert _replay_reasons(noisy) == []
    few = gate_policy(shows_all, None, train, held[:12], 12, cfg)
    assert not few.passed and "too few positions shown" in _replay_reasons(few)[0]
    # the candidate shows nothing: kept characters drop to zero
    shows_none = policy_from_dict({**shows_all.info, "models": {
        "*": {"intercept": -10.0, "weights": {}}}}, "n")
    none = gate_policy(shows_none, None, train, held, 300, cfg)
    assert any(r.startswith("kept chars/position 0.00 vs ") for r in none.reasons), none.reasons


def test_split_files_holds_whole_documents_out():
    exs = [_ex(f"c{i}", True, False, f"f{i % 10}") for i in range(100)]
    by_file = {f"f{i}": 10 for i in range(10)}
    rest, held, rest_pos, held_pos = split_files(exs, by_file, 0.2, seed=0)
    assert {e.file for e in held}.isdisjoint({e.file for e in rest})
    assert len({e.file for e in held}) == 2 and (rest_pos, held_pos) == (80, 20)
    assert split_files(exs, by_file, 0.2, seed=0)[1] == held  # stable cycle to cycle
    one = [_ex("x", True, False, "only")]
    assert split_files(one, {"only": 1}, 0.2)[1] == []  # one document: nothing held out


def test_policy_cycle_trains_without_the_held_out_files(tmp_path):
    rows = seeded_logs(1000, seed=2)
    for row in rows:
        row["uri_hash"] = f"f{int(row['completion_id'].split('-')[1]) % 10}"
    result = policy_cycle(LoopConfig(registry=str(tmp_path / "reg")), rows, "v1", "d", "t",
                          print)
    exs, _ = examples(rows)
    assert result["gate"]["files_candidate"]["positions"] == 200
    # 70% of the logs by time, of 80% of the files (70% of all without held-out files)
    assert result["train"]["examples"] < 0.6 * len(exs)
    assert result["status"] == "promoted", result["gate"]


def test_a_policy_is_fitted_on_top_of_the_shipped_gate_prior(monkeypatch):
    from codeward.server.registry import RegistryError
    from codeward.server.showpolicy import load_prior, vectorize

    shipped = load_prior()
    assert shipped is not None
    rows = seeded_logs(300, seed=4)
    exs, _, trained, policy = _trained(rows)
    assert trained.policy["prior"] == shipped.version and policy.base is not None
    assert "prior_logit" in trained.policy["models"]["*"]["weights"]
    copy = next(e.features for e in exs if e.features["source"] == "index")
    model = next(e.features for e in exs if e.features["source"] == "model")
    assert vectorize(copy, policy.base)["prior_logit"] == pytest.approx(
        shipped.models["*"].logit(copy))
    assert "prior_logit" not in vectorize(model, policy.base)  # the prior scores copies only
    # the server scores with the same prior term the policy was fitted with
    alone = _trained(rows, PolicyConfig(on_prior=False))[2].policy
    assert alone["prior"] is None and "prior_logit" not in alone["models"]["*"]["weights"]
    assert policy.score(copy) != policy_from_dict({**trained.policy, "prior": None}).score(copy)
    with pytest.raises(RegistryError, match="fitted on gate prior 'prior-0000'"):
        policy_from_dict({**trained.policy, "prior": "prior-0000"})


def test_the_gates_baseline_is_what_the_server_shows_without_a_policy():
    """Logs of an ``ungated`` exploration run carry the thresholds' verdict; the baseline a
    candidate is compared with is the server's default: the gate prior on the copies (from
    their logged features), model text only where no copy is shown (``index-first``)."""
    import random

    from codeward.server.index.prior import prior_for
    from codeward.server.settings import IndexSettings

    prior = prior_for(IndexSettings())
    rng = random.Random(0)
    rows = []
    for i in range(80):
        cid = f"c{i}"
        copy = {"source": "index", "match_tokens": rng.randint(1, 60),
                "vote_share": round(rng.random(), 3), "occurrences": rng.randint(1, 9),
                "whole_line": True, "same_file": rng.random() < 0.5,
                "candidate_chars": rng.randint(3, 80)}
        model = {"source": "model", "mean_logprob": -0.2}
        for k, (f, logged) in enumerate(((copy, True), (model, True))):  # thresholds: shown
            rows.append({"type": "completion", "completion_id": cid, "candidate_index": k,
                         "at": float(i), "repo_hash": "p", "blocked": False,
                         "gate": {"features": f, "shown": logged}})
    exs, _ = examples(rows)
    copies = {e.completion_id: e for e in exs if e.features["source"] == "index"}
    models = {e.completion_id: e for e in exs if e.features["source"] == "model"}
    verdicts = {cid: prior.score(e.features) >= prior.threshold for cid, e in copies.items()}
    assert 0 < sum(verdicts.values()) < len(verdicts)  # the prior withholds some copies
    assert all(copies[c].gated == v for c, v in verdicts.items())
    assert all(models[c].gated == (not v) for c, v in verdicts.items())
    # logs without the prior's inputs keep their logged verdicts
    old = [{**r, "gate": {**r["gate"], "features": {k: v for k, v in r["gate"]["features"].items()
                                                    if k != "whole_line"}}} for r in rows]
    assert all(e.gated for e in examples(old)[0])
