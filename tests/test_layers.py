"""The package's shape: the layers in .importlinter hold, no cycles, small modules, a root
that holds only the public contracts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import progress_plugin

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(progress_plugin.__file__).parent
MAX_LINES = 400
CONTRACTS = {"errors.py", "hookspecs.py", "__init__.py", "py.typed"}


def test_import_contracts_hold():
    """`lint-imports` checks the contracts in .importlinter: the layers, the pure core and
    view, and no import cycles."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), str(ROOT / ".importlinter"), "--no-cache", "--no-logo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_subpackage_is_in_a_layer_contract():
    layers = (ROOT / ".importlinter").read_text(encoding="utf-8")
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    missing = [name for name in subpackages if f"progress_plugin.{name}\n" not in layers
               and f"progress_plugin.{name} " not in layers]
    assert missing == []


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_package_root_holds_only_the_public_contracts():
    files = {p.name for p in PACKAGE.iterdir() if p.is_file()}
    assert files == CONTRACTS
