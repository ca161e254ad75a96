"""The import contract in pyproject.toml (`[tool.importlinter]`) holds for the code as it is.

The editable install maps `csm.domain` → domain/ and so on through an import hook that
import-linter cannot walk, so the check runs on a copy laid out as the wheel installs it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "api", "consumers", "infra")


def _installed_layout(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / "csm" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(where: Path) -> subprocess.CompletedProcess:
    run = "import sys; from importlinter.cli import lint_imports_command; " \
          "sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", run], cwd=where, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(where)})


def test_the_layers_and_the_pure_domain_hold_for_the_code_as_it_is(tmp_path):
    done = _lint_imports(_installed_layout(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "source", "reported"), [
    ("infra/reaches_up.py", "from csm.api.app import create_app\n",
     "csm.infra.reaches_up -> csm.api.app"),
    ("domain/talks.py", "import structlog\n", "csm.domain.talks -> structlog"),
], ids=["infra importing the api", "the domain logging"])
def test_a_module_reaching_past_its_layer_breaks_the_contract(tmp_path, module, source, reported):
    where = _installed_layout(tmp_path)
    (where / "csm" / module).write_text(source)
    done = _lint_imports(where)
    assert done.returncode == 1
    assert reported in done.stdout
