"""The wheel puts one import name into site-packages: `csm` (and its dist-info)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def test_the_wheel_installs_only_csm_and_its_dist_info_into_site_packages(tmp_path):
    # Built from a copy: setuptools leaves a build/ folder beside the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".csm", "tests", "bench"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--wheel-dir", str(wheels), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("csm-*.whl")
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    site = _site_packages(env)
    before = {p.name for p in site.iterdir()}
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                    "--quiet", str(wheel)], check=True, capture_output=True, timeout=300)
    added = {p.name for p in site.iterdir()} - before
    dist_info = {name for name in added if name.startswith("csm-")}
    assert added - dist_info == {"csm"}
    assert [name for name in dist_info if name.endswith(".dist-info")] == list(dist_info)
    assert len(dist_info) == 1
    assert sorted(p.name for p in (site / "csm").iterdir() if p.is_dir()) == \
        ["api", "consumers", "domain", "infra", "projections"]
    installed = {p.relative_to(site / "csm").as_posix() for p in (site / "csm").rglob("*.py")}
    sources = {f"{folder}/{p.relative_to(ROOT / folder).as_posix()}"
               for folder in ("api", "consumers", "domain", "infra", "projections")
               for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts}
    assert sources - installed == set(), "modules the wheel leaves out"
