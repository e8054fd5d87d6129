"""The package's layers point one way (tools/import_graph.py), and the light models load without torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "import_graph.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_cycle_and_every_import_points_down():
    done = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "models -> data, encoders, errors, eval, train, version" in done.stdout
    assert "pairrank -> api, version" in done.stdout  # the package root is the public face, at the top
    assert "train -> errors, progress" in done.stdout  # the loop knows nothing of the models it trains


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_cycle_through_a_lazy_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    write(package / "__init__.py", "")
    write(package / "low" / "__init__.py", "")
    write(package / "low" / "a.py", "def f():\n    from pkg.high import b  # lazy, inside a function\n")
    write(package / "high" / "__init__.py", "")
    write(package / "high" / "b.py", "from pkg.low import a\n")
    graph, problems = load_tool().check(package)
    assert graph == {"low": {"high"}, "high": {"low"}}
    assert "cycle between parts: high <-> low" in problems


def test_an_import_from_a_higher_layer_is_found(tmp_path):
    package = tmp_path / "pkg"
    write(package / "__init__.py", "")
    write(package / "low" / "__init__.py", "")
    write(package / "low" / "a.py", "from ..high.b import thing\n")  # relative imports are resolved too
    write(package / "high" / "__init__.py", "")
    write(package / "high" / "b.py", "thing = 1\n")
    _, problems = load_tool().check(package, [{"pkg"}, {"low"}, {"high"}])
    assert len(problems) == 1 and "pkg.low.a imports pkg.high.b, which is not in a lower layer" in problems[0]


@pytest.mark.parametrize("module", ["pairrank.models.ease", "pairrank.models.itemknn", "pairrank.models.mostpop"])
def test_light_models_and_the_registry_do_not_import_torch(module):
    code = f"import sys, {module}, pairrank.models.registry, pairrank.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_no_benchmark_script_shadows_a_module_a_dependency_imports_by_bare_name():
    """A script's folder is first on sys.path, so a script named like a bare-imported module breaks that import."""
    import onnxruntime.transformers  # puts its own folder on sys.path and imports its modules by bare name

    taken = {path.stem for path in Path(onnxruntime.transformers.__file__).parent.glob("*.py")}
    taken |= set(sys.stdlib_module_names)
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("*.py")}
    assert not scripts & taken, f"rename these benchmarks/ scripts: {sorted(scripts & taken)}"
