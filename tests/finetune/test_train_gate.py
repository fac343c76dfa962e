"""Training smoke test (parameters change, loss logged) and the promotion gate (a worse
candidate is refused, a better one accepted)."""

from __future__ import annotations

import json
import math

import pytest

from codeward.finetune.gate import GateConfig, gate_candidate, looks_like_secret, secret_emissions
from codeward.finetune.train import NotEnoughData, TrainConfig, choose_method

from teach_data import teach_snippets


def test_training_changes_parameters_and_logs_loss(trained_models, tiny_hf_dir):
    from safetensors.torch import load_file

    model_dir, hf_dir, result = trained_models["better"]
    assert result.method == "dpo" and result.steps == 8
    assert len(result.losses) == 8 and all(math.isfinite(x) for x in result.losses)
    assert result.losses[-1] < result.losses[0]
    before = load_file(str(tiny_hf_dir / "model.safetensors"))
    after = load_file(str(hf_dir / "model.safetensors"))
    assert set(before) == set(after)  # merged: a plain checkpoint, no adapter keys
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert any("q_proj" in k for k in changed) and any("mlp" in k for k in changed)
    log = json.loads((hf_dir / "training.json").read_text())
    assert log["losses"] == result.losses
    assert (model_dir / "codeward.json").is_file()


def test_gate_accepts_better_refuses_worse(trained_models, tiny_model_dir, tiny_hf_dir):
    cfg = GateConfig()
    snippets = teach_snippets()
    better = gate_candidate(tiny_model_dir, tiny_hf_dir, trained_models["better"][0],
                            trained_models["better"][1], trained_models["dataset"], cfg=cfg,
                            snippets=snippets)
    assert better.passed, better.table()
    assert better.candidate["margin"] > better.baseline["margin"]
    assert better.baseline["exact_match"] == 100.0
    worse = gate_candidate(tiny_model_dir, tiny_hf_dir, trained_models["worse"][0],
                           trained_models["worse"][1], trained_models["dataset"], cfg=cfg,
                           snippets=snippets)
    assert not worse.passed
    assert any(r.startswith("preference margin") for r in worse.reasons), worse.table()
    assert "REFUSED" in worse.table()


def test_gate_refuses_without_margin_data(trained_models, tiny_model_dir):
    report = gate_candidate(tiny_model_dir, None, trained_models["better"][0], None, None,
                            snippets=teach_snippets())
    assert not report.passed and "no held-out pairs" in report.reasons[0]


def test_secret_detector():
    assert looks_like_secret('AKIAIOSFODNN7EXAMPLE"')
    assert looks_like_secret("k = 'q8Zt3LmW9xPa7Rb2Kc5Vd1Nf6Hg4Js0'")
    assert not looks_like_secret("return compute_average_value(items)")


def test_secret_check_compares_with_the_base(tiny_model_dir):
    """A candidate may not emit more credentials than its base; the same number passes."""
    from models import tiny_model

    leaky = tiny_model("leaky")  # knows one thing: an access-key-shaped value after a quote
    cfg = GateConfig()
    count, rules = secret_emissions(leaky, cfg)
    assert count >= 1 and all(r.startswith("CW-SECRET-AWS") for r in rules), rules
    assert secret_emissions(tiny_model_dir, cfg) == (0, [])

    def secret_check(report):
        return next(c for c in report.checks if c.name == "secret emissions")

    same = gate_candidate(leaky, None, leaky, None, None, cfg, snippets=[])
    assert secret_check(same).passed
    assert secret_check(same).baseline == secret_check(same).candidate == count
    worse = gate_candidate(tiny_model_dir, None, leaky, None, None, cfg, snippets=[])
    assert not secret_check(worse).passed
    assert any(r.startswith("secret emissions") for r in worse.reasons)


def test_shipped_model_passes_its_own_secret_check():
    """It completes secret-named literals with repetitive filler (S_RE_RE_...): the name
    rules fire on the canary's variable, not on a credential, and do not count."""
    from codeward.server.models import default_model_dir

    assert secret_emissions(default_model_dir(), GateConfig()) == (0, [])


def test_method_choice(tmp_path):
    from teach_data import teach_pairs, write_pairs

    ds = write_pairs(tmp_path / "ds", teach_pairs(), [])
    assert choose_method(TrainConfig(min_pairs=2), ds)[0] == "dpo"
    with pytest.raises(NotEnoughData):
        choose_method(TrainConfig(min_pairs=10), ds)  # kto, but no unpaired rows
    with pytest.raises(ValueError, match="method"):
        TrainConfig(method="ppo")


def test_rows_longer_than_max_length_are_a_clear_refusal(tmp_path, tiny_hf_dir):
    """TRL drops every row whose prompt alone fills --max-length; training then failed deep
    in the sampler ("num_samples=0") and the cycle lost its result (the boltons demo)."""
    from codeward.finetune.train import train

    from teach_data import teach_pairs, write_pairs

    ds = write_pairs(tmp_path / "ds", teach_pairs(), [])
    with pytest.raises(NotEnoughData, match="longer than --max-length 2 tokens"):
        train(tiny_hf_dir, ds, tmp_path / "hf", TrainConfig(method="dpo", max_length=2,
                                                             max_steps=1))
