"""The peers' own virtual environments under ``bench/envs/`` (gitignored), made with pip only.

Each peer is pinned. None of them may pull torch (the CUDA build is gigabytes): after
installing, the environment is checked and the benchmark refuses to use one that has torch.
"""

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import REPO

ENVS = REPO / "bench" / "envs"


@dataclass(frozen=True)
class PeerEnv:
    """One virtual environment: its name, pinned requirements and the module that proves it."""

    name: str
    requirements: tuple[str, ...]
    probe: str  # a module whose import shows the install worked

    @property
    def python(self) -> Path:
        return ENVS / self.name / "bin" / "python"

    @property
    def marker(self) -> Path:
        return ENVS / self.name / ".bench-installed"


PEERS = {
    # curator resolves litellm 1.83.7 today; pinned so a later (or a compromised) release
    # is never picked up by the benchmark
    "curator": PeerEnv("curator", ("bespokelabs-curator==0.1.31", "litellm==1.83.7"),
                       "bespokelabs.curator"),
    "distilabel": PeerEnv("distilabel", ("distilabel[openai]==1.5.3", "requests"), "distilabel"),
    "openai": PeerEnv("openai", ("openai==2.30.0",), "openai"),
}


def _pip(env: PeerEnv, *args: str) -> None:
    subprocess.run([str(env.python), "-m", "pip", "-q", "--disable-pip-version-check", *args],
                   check=True)


def ensure(env: PeerEnv, log: Callable[[str], None]) -> Path:
    """Create and fill the environment once (a marker file records the pinned set)."""
    wanted = "\n".join(env.requirements)
    if env.marker.exists() and env.marker.read_text() == wanted:
        return env.python
    log(f"installing {', '.join(env.requirements)} into bench/envs/{env.name} (pip)...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(ENVS / env.name)], check=True)
    _pip(env, "install", "--upgrade", "pip")
    _pip(env, "install", *env.requirements)
    check = subprocess.run([str(env.python), "-c", "import importlib.util as u, sys; "
                            "sys.exit(u.find_spec('torch') is not None)"])
    if check.returncode != 0:
        raise RuntimeError(f"bench/envs/{env.name} pulled torch; refusing to benchmark it")
    subprocess.run([str(env.python), "-c", f"import {env.probe}"], check=True)
    env.marker.write_text(wanted)
    return env.python


def package_version(python: Path, package: str) -> str:
    """The installed version of ``package`` in the environment of ``python``."""
    out = subprocess.run([str(python), "-c", "import importlib.metadata as m, sys; "
                          f"print(m.version('{package}'))"], capture_output=True, text=True)
    return out.stdout.strip() or "?"
