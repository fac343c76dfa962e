"""The finetune commands: options derived from the config dataclasses (help on every option,
defaults that cannot drift), validation naming the field, and a missing extra named."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import pytest

from codeward.finetune.dataset import DatasetConfig
from codeward.finetune.evaluate import EvalConfig
from codeward.finetune.flags import config_from_args
from codeward.finetune.gate import GateConfig
from codeward.finetune.loop import LoopConfig
from codeward.finetune.simulate import SimConfig
from codeward.finetune.train import TrainConfig
from codeward.finetune.train_base import PretrainConfig
from codeward.server.cli import build_parser, main

COMMANDS = [["model", "train-base"], ["model", "convert"], ["model", "list"],
            ["model", "register"], ["model", "promote"], ["model", "rollback"],
            ["model", "export"], ["eval"],
            ["simulate"], *[["finetune", c] for c in ("dataset", "train", "evaluate", "run",
                                                       "schedule")]]


def _subparser(parser: argparse.ArgumentParser, path: list[str]) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_option_has_help(path):
    parser = _subparser(build_parser(), path)
    missing = [a.option_strings or a.dest for a in parser._actions
               if not a.help and not isinstance(a, argparse._HelpAction)]
    assert not missing


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_defaults_are_the_dataclass_defaults():
    args = _parse(["finetune", "run", "--events", "ev.jsonl"])
    assert config_from_args(TrainConfig, args, "train_") == TrainConfig()
    assert config_from_args(GateConfig, args, "gate_") == GateConfig()
    assert config_from_args(DatasetConfig, args, "dataset_") == DatasetConfig()
    loop = config_from_args(LoopConfig, args, "loop_")
    assert loop == LoopConfig(events="ev.jsonl")
    args = _parse(["model", "train-base", "--out", "o", "--max-steps", "5"])
    assert config_from_args(PretrainConfig, args) == PretrainConfig(out_dir="o", max_steps=5)
    assert config_from_args(EvalConfig, _parse(["eval"])) == EvalConfig()
    args = _parse(["simulate", "--repo", "r"])
    assert config_from_args(SimConfig, args, "sim_") == SimConfig(repo="r")


def test_flags_reach_the_configs():
    args = _parse(["model", "train-base", "--out", "o", "--corpus", "a", "--corpus", "b",
                   "--stdlib-only", "--time-budget", "1.5", "--max-tokens", "2e6",
                   "--no-convert", "--device", "cpu"])
    cfg = config_from_args(PretrainConfig, args)
    assert (cfg.corpus_dirs, cfg.include_packages, cfg.time_budget_min, cfg.max_tokens,
            cfg.convert, cfg.device) == (["a", "b"], False, 1.5, 2_000_000, False, "cpu")
    args = _parse(["finetune", "run", "--events", "e", "--no-vet", "--no-require-margin",
                   "--heldout-code", "x", "y", "--max-steps", "3", "--no-promote",
                   "--registry", "R"])
    cfg = config_from_args(LoopConfig, args, "loop_",
                           dataset=config_from_args(DatasetConfig, args, "dataset_"),
                           train=config_from_args(TrainConfig, args, "train_"),
                           gate=config_from_args(GateConfig, args, "gate_"))
    assert (cfg.dataset.vet, cfg.gate.require_margin, cfg.gate.heldout_code,
            cfg.train.max_steps, cfg.promote, cfg.registry) == \
        (False, False, ["x", "y"], 3, False, "R")
    args = _parse(["simulate", "--repo", "r", "--settings", '{"a": 1}', "--out", "f.json"])
    assert config_from_args(SimConfig, args, "sim_").settings == {"a": 1}
    assert args.output == "f.json"


@pytest.mark.parametrize("make, field", [
    (lambda: TrainConfig(learning_rate=2.0), "TrainConfig.learning_rate"),
    (lambda: PretrainConfig(out_dir="o"), "max_steps"),
    (lambda: PretrainConfig(out_dir="o", max_steps=1, heads=3), "PretrainConfig.hidden"),
    (lambda: GateConfig(max_secret_increase=-1), "GateConfig.max_secret_increase"),
    (lambda: DatasetConfig(max_prefix_chars=0), "DatasetConfig.max_prefix_chars"),
    (lambda: EvalConfig(positions=0), "EvalConfig.positions"),
    (lambda: SimConfig(repo=""), "--repo"),
])
def test_validation_names_the_field(make, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_bad_value_is_one_line(capsys):
    assert main(["model", "train-base", "--out", "o"]) == 2  # no budget given
    err = capsys.readouterr().err
    assert "--max-steps" in err and "Traceback" not in err


def test_train_base_without_torch_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a plain `pip install codeward`
    assert main(["model", "train-base", "--out", str(tmp_path), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "'codeward model train-base' needs the 'finetune' extra" in err
    assert "pip install 'codeward[finetune]'" in err and "whl/cpu" in err
    assert not any(tmp_path.iterdir())


def test_configs_document_every_option():
    for cls in (TrainConfig, PretrainConfig, GateConfig, DatasetConfig, EvalConfig, SimConfig,
                LoopConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name}"


def test_empty_registry_says_what_to_do(tmp_path, capsys):
    assert main(["model", "list", "--registry", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "no versions yet" in out and "codeward finetune run" in out
    assert "codeward model register MODEL_DIR --promote" in out
    assert main(["model", "list", "--registry", str(tmp_path / "r"), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_events_default_to_the_user_store(tmp_path, capsys, monkeypatch):
    """No --events: the user's event store; before any was recorded, one line says so and
    nothing is registered."""
    from codeward.finetune.dataset import event_source
    from codeward.server.events import config

    monkeypatch.setattr(config, "data_dir", lambda: tmp_path / "data")
    registry = tmp_path / "r"
    assert main(["finetune", "run", "--registry", str(registry)]) == 2
    err = capsys.readouterr().err
    assert "no events yet" in err and str(tmp_path / "data" / "events.db") in err
    assert "--events FILE" in err and "Traceback" not in err and not registry.exists()
    assert main(["finetune", "schedule", "--registry", str(registry), "--every", "1s"]) == 2
    assert "no events yet" in capsys.readouterr().err
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.db").touch()
    assert event_source("") == f"sqlite:///{tmp_path / 'data' / 'events.db'}"
    assert event_source("ev.jsonl") == "ev.jsonl"
