"""`pairrank tune`: Optuna search on validation NDCG@10, its files, errors and pruning hook."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from pairrank.cli import app
from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split
from pairrank.errors import ConfigError
from pairrank.experiments.config_file import read_config
from pairrank.experiments.training import train_model
from pairrank.experiments.tune import pruning_callback, search_space, trials_path, tune_model, write_results
from pairrank.models.registry import model_class, model_names
from pairrank.models.validation import validation_ndcg

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_tune_ease_writes_best_config_that_reproduces(tmp_path, small_loo_split):
    data = SplitData.from_split(Split.read(small_loo_split))
    result = tune_model(data, "ease", 3, seed=0)
    best_path, table_path = write_results(result, tmp_path / "best.json")
    assert table_path == trials_path(best_path) == tmp_path / "best.trials.json"

    config = read_config(best_path)
    assert set(config) == {"l2"} and 1.0 <= config["l2"] <= 1e4
    summary = json.loads(table_path.read_text())
    assert len(summary["trials"]) == 3
    completed = [t for t in summary["trials"] if t["state"] == "COMPLETE"]
    best_trial = max(completed, key=lambda t: t["value"])
    assert summary["best"]["value"] == best_trial["value"] == result.best_value
    assert best_trial["params"] == config

    model, _ = train_model(data, "ease", config)
    assert validation_ndcg(model, data.dataset(data.split.valid)) == pytest.approx(result.best_value, abs=1e-9)


def test_cli_tune_itemknn(tmp_path, small_loo_split):
    out = tmp_path / "knn" / "best.json"
    result = invoke("tune", "--split", small_loo_split, "--model", "itemknn", "--trials", 2, "--out", out)
    assert result.exit_code == 0, result.output
    assert set(json.loads(out.read_text())) == {"k", "shrink"}
    assert len(json.loads(trials_path(out).read_text())["trials"]) == 2
    assert "best valid ndcg@10" in result.output


@pytest.mark.parametrize(
    ("model", "expected"), [("nope", "unknown model 'nope'"), ("mostpop", "mostpop has nothing to tune")]
)
def test_cli_tune_bad_model_exits_2(tmp_path, small_loo_split, model, expected):
    result = invoke("tune", "--split", small_loo_split, "--model", model, "--trials", 1, "--out", tmp_path / "b.json")
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "b.json").exists()


def test_tune_needs_validation_interactions(tmp_path, small_loo_split):
    split_dir = Path(shutil.copytree(small_loo_split, tmp_path / "split"))
    header = (split_dir / "valid.csv").read_text().splitlines()[0]
    (split_dir / "valid.csv").write_text(header + "\n")
    with pytest.raises(ConfigError, match="valid.csv"):
        tune_model(SplitData.from_split(Split.read(split_dir)), "ease", 1)


def test_pruning_callback_raises_trial_pruned():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.0))
    trial = study.ask()
    on_epoch = pruning_callback(trial)
    with pytest.raises(optuna.TrialPruned):
        on_epoch(1, 0.25)
    assert study.trials[0].intermediate_values == {1: 0.25}


@pytest.mark.parametrize("name", model_names())
def test_every_model_has_a_search_space_that_samples_valid_non_default_options(name):
    config_class = model_class(name).Config
    if not dataclasses.fields(config_class):
        with pytest.raises(ConfigError, match="nothing to tune"):
            search_space(name)
        return
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = [search_space(name)(study.ask()) for _ in range(5)]
    defaults = dataclasses.asdict(config_class())
    for config in sampled:
        built = dataclasses.asdict(model_class(name)(config).config)  # a bad option or value would raise
        assert {option: built[option] for option in config} == config
    assert any(config[option] != defaults[option] for config in sampled for option in config), "the space is empty"
