"""The import contract in pyproject.toml (`[tool.importlinter]`) holds for the code as it is.

The editable install maps `csm.domain` → domain/ and so on through an import hook that
import-linter cannot walk, so the check runs on a copy laid out as the wheel installs it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_infra_importing_the_api_breaks_the_contract(tmp_path):
    where = _installed_layout(tmp_path)
    (where / "csm" / "infra" / "reaches_up.py").write_text("from csm.api.app import create_app\n")
    done = _lint_imports(where)
    assert done.returncode == 1
    assert "csm.infra.reaches_up -> csm.api.app" in done.stdout


def test_the_domain_logging_breaks_the_contract(tmp_path):
    where = _installed_layout(tmp_path)
    (where / "csm" / "domain" / "talks.py").write_text("import structlog\n")
    done = _lint_imports(where)
    assert done.returncode == 1
    assert "csm.domain.talks -> structlog" in done.stdout
