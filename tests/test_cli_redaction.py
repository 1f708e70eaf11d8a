"""Every one-line CLI error is redacted of secret-looking environment values, whatever echoed
them (a server's error, an exception's message, a path the user typed)."""

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.cli import _without_secrets

_secret = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8,
                  max_size=40)


@settings(max_examples=100, deadline=None)
@given(secret=_secret, before=st.text(max_size=30), after=st.text(max_size=30),
       upper=st.booleans())
def test_secret_env_values_never_reach_an_error_line(secret: str, before: str, after: str,
                                                     upper: bool) -> None:
    shown = secret.upper() if upper else secret
    os.environ["ENRICH_TEST_API_KEY"] = secret
    try:
        assert secret not in _without_secrets(before + shown + after)
        assert shown not in _without_secrets(before + shown + after)
    finally:
        del os.environ["ENRICH_TEST_API_KEY"]


def test_an_error_line_that_echoes_the_key_is_redacted(tmp_path: Path) -> None:
    key = "sk-live-0123456789abcdef"
    env = {**os.environ, "MY_SERVICE_TOKEN": key}
    result = subprocess.run([sys.executable, "-m", "enrich.cli", "run", f"jobs/{key}.yaml"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and key not in result.stderr + result.stdout
