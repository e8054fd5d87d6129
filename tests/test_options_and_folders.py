"""Options are checked before any work starts; model folders are stamped, checked and never unpickled."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from pairrank.cli import app
from pairrank.errors import ConfigError, DataError
from pairrank.experiments.training import train_model, write_run
from pairrank.models.ease import EASE
from pairrank.models.folder import FOLDER_FORMAT
from pairrank.models.registry import load_model, model_class
from pairrank.version import __version__

runner = CliRunner()
TINY_TWOTOWER = {"epochs": 1, "max_history": 10, "dim": 8, "hidden": 16, "layers": 1}


@pytest.mark.parametrize(
    "model, options, message",
    [
        (
            "twotower",
            {"use_text": "false"},
            "twotower: option 'use_text': Input should be a valid boolean (got 'false')",
        ),
        ("twotower", {"lr": -1}, "twotower: option 'lr': Input should be greater than 0 (got -1)"),
        ("bprmf", {"epochs": "ten"}, "bprmf: option 'epochs': Input should be a valid integer (got 'ten')"),
        ("twotower", {"user_tower": "attention", "dim": 30, "heads": 4}, "dim (30) must be divisible by heads (4)"),
        ("ease", {"l2": 100, "alpha": 1}, "unknown option(s) ['alpha'] for ease; valid: ['l2', 'storage']"),
    ],
)
def test_a_bad_option_stops_train_before_the_split_is_read(tmp_path, model, options, message):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(options))
    missing_split = tmp_path / "no-such-split"  # were it read first, the error would name it instead
    result = runner.invoke(
        app, ["train", "--split", str(missing_split), "--model", model, "--config", str(config), "--out", "x"]
    )
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert message in output and "Traceback" not in output and "no-such-split" not in output


def test_json_integers_are_taken_for_float_options_but_not_floats_for_integers():
    assert EASE({"l2": 500}).config.l2 == 500.0
    with pytest.raises(ConfigError, match="option 'k': Input should be a valid integer"):
        model_class("itemknn")({"k": 5.0})


def test_a_model_folder_is_stamped_with_the_version_that_wrote_it(ease_run):
    meta = json.loads((ease_run / "config.json").read_text())
    assert (meta["pairrank_version"], meta["folder_format"], meta["model"]) == (__version__, FOLDER_FORMAT, "ease")


def broken_copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "broken"))


def rewrite_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    (folder / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "config.json").unlink(), "not a model folder: no config.json"),
        (lambda f: (f / "config.json").write_text("{not json"), "config.json: not valid JSON"),
        (lambda f: rewrite_meta(f, folder_format=0), f"written by pairrank {__version__} in folder format 0"),
        (lambda f: rewrite_meta(f, folder_format=None), "in folder format None"),
        (lambda f: rewrite_meta(f, pairrank_version=None), "field 'pairrank_version': no pairrank version"),
        (lambda f: rewrite_meta(f, config=[1]), "field 'config': missing or not a dict"),
        (lambda f: rewrite_meta(f, config={"l2": "big"}), "ease: option 'l2': Input should be a valid number"),
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors: missing model file"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 16), "model.safetensors: not a readable"),
        (lambda f: (f / "items.parquet").write_text("x"), "items.parquet: not a readable Parquet file"),
    ],
)
def test_a_damaged_model_folder_is_a_clear_error(ease_run, tmp_path, damage, message):
    folder = broken_copy(ease_run, tmp_path)
    damage(folder)
    with pytest.raises((DataError, ConfigError)) as raised:
        load_model(folder)
    assert message in str(raised.value)
    result = runner.invoke(app, ["recommend", "--run", str(folder), "--items", "1", "--k", "3"])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_a_missing_array_names_the_file(ease_run, tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = broken_copy(ease_run, tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    del state["codes"]
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(DataError, match="model.safetensors: missing array 'codes'"):
        load_model(folder)


def test_a_folder_of_another_model_is_refused_by_a_model_class(ease_run):
    from pairrank.models.itemknn import ItemKNN

    with pytest.raises(DataError, match="holds a 'ease' model, not 'itemknn'"):
        ItemKNN.load(ease_run)


@pytest.mark.parametrize(
    "name, options",
    [
        ("ease", {}),
        ("itemknn", {}),
        ("userknn", {}),
        ("textknn", {}),
        ("bprmf", {"epochs": 1}),
        ("twotower", TINY_TWOTOWER),
    ],
)
def test_loading_a_model_folder_never_unpickles(loo_data, tmp_path, monkeypatch, name, options):
    model, info = train_model(loo_data, name, options)
    write_run(model, info, tmp_path / name)

    def refuse(*args, **kwargs):
        raise AssertionError("a model folder was unpickled")

    for target, attribute in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(target, attribute, refuse)
    monkeypatch.setattr(np, "load", lambda *a, **k: refuse() if k.get("allow_pickle") else np.lib.npyio.load(*a, **k))
    loaded = load_model(tmp_path / name)
    np.testing.assert_allclose(loaded.score(np.arange(4)), model.score(np.arange(4)), rtol=1e-5, atol=1e-5)


def test_save_replaces_an_earlier_run_as_a_whole_and_keeps_only_this_runs_checkpoints(loo_data, tmp_path):
    from pairrank.experiments.training import train_run

    out = tmp_path / "run"
    train_run(loo_data, "twotower", TINY_TWOTOWER, out)  # leaves checkpoints/ and a TwoTower folder
    (out / "notes.txt").write_text("left by hand")
    assert (out / "checkpoints").is_dir()
    train_run(loo_data, "ease", {}, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "items.parquet",
        "model.safetensors",
        "run.json",
        "users.parquet",
    ]
    assert json.loads((out / "config.json").read_text())["model"] == "ease"
    assert not list(tmp_path.glob(".run.*"))  # no staging or old copies left behind


def test_a_failed_save_leaves_the_earlier_folder_untouched(ease_run, tmp_path, monkeypatch):
    folder = Path(shutil.copytree(ease_run, tmp_path / "run"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    model = load_model(folder)
    model.config = EASE({"l2": 5.0, "storage": "int8"}).config  # so a partial write would show in config.json
    monkeypatch.setattr(type(model), "_state", lambda self: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        model.save(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not list(tmp_path.glob(".run.*"))


def test_save_refuses_to_replace_a_folder_that_is_not_a_model_folder(ease_run, tmp_path):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DataError, match="exists and is not a model folder"):
        load_model(ease_run).save(precious)
    assert (precious / "thesis.tex").read_text() == "years of work"
