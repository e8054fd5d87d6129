"""The model registry: names match classes, and an optional peer that is not installed is left out and named."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from pairrank.cli import app
from pairrank.errors import ConfigError
from pairrank.models import registry


@pytest.mark.parametrize("entry", registry.ENTRIES, ids=lambda e: e.name)
def test_each_entry_names_its_class(entry):
    if entry.available:
        assert entry.load_class().name == entry.name


@pytest.fixture()
def lightfm_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lightfm" else real(name, *a))


def test_a_missing_peer_is_left_out_of_the_lists_and_named_when_asked_for(lightfm_missing):
    assert "lightfm" not in registry.model_names() and "ease" in registry.model_names()
    with pytest.raises(ConfigError, match="model 'lightfm' needs the package.s. lightfm, not installed here"):
        registry.model_class("lightfm")


def test_the_cli_says_it_in_one_line_with_exit_code_2(lightfm_missing, small_loo_split, tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--split", str(small_loo_split), "--model", "lightfm", "--out", str(tmp_path / "r")]
    )
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "pip install lightfm" in output and "Traceback" not in output
