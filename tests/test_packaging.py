"""Packaging: runtime dependencies are what src/ imports, and importing the library stays light."""

import ast
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
DISTRIBUTION = {"jax": "jax", "equinox": "equinox", "lineax": "lineax", "optimistix": "optimistix",
                "diffrax": "diffrax", "jaxtyping": "jaxtyping", "numpy": "numpy", "matplotlib": "matplotlib"}


def imported_top_level_modules():
    names = set()
    for path in (ROOT / "src" / "vardax_tutorials").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "vardax_tutorials"}


def test_runtime_dependencies_are_the_packages_src_imports():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {d.split(">")[0].split("<")[0].split("=")[0].strip() for d in declared}
    imported = {DISTRIBUTION.get(n, n) for n in imported_top_level_modules()}
    assert imported == declared


def test_pre_one_point_zero_dependencies_have_an_upper_bound():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for spec in declared:
        name = spec.split(">")[0].strip()
        if name in ("jax", "equinox", "lineax", "optimistix", "diffrax", "jaxtyping"):
            assert ">=" in spec and ",<0." in spec, spec


def test_import_does_not_import_pyplot():
    code = "import sys, vardax_tutorials as vdx; print('matplotlib.pyplot' in sys.modules); vdx.plotting; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
