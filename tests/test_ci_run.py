""".ci/run's control flow: the default run, then the tests marked `long`, and an exit status that fails when
either fails (pytest's 5, no test collected, is fine for the long run only).

.ci/run is run for real by bash, from a copy in a temporary folder, with stubs on PATH for apt-get and
python3.11; the stub venv's `python` exits with the status each case asks for and logs how it was called.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

PYTHON_STUB = """#!/bin/sh
# python3.11 -m venv .venv: a venv whose pip does nothing and whose python plays pytest
mkdir -p .venv/bin
printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pip
cat > .venv/bin/python <<'EOF'
#!/bin/sh
echo "$*" >> "$STUB_LOG"
case "$*" in
  *"-m long"*) echo "== long run summary =="; exit "$LONG_STATUS" ;;
  *) echo "== default run summary =="; exit "$DEFAULT_STATUS" ;;
esac
EOF
chmod +x .venv/bin/pip .venv/bin/python
"""


def run_ci(tmp_path: Path, default_status: int, long_status: int) -> tuple[int, list[str], str]:
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    (stubs / "python3.11").write_text(PYTHON_STUB)
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log),
           "DEFAULT_STATUS": str(default_status), "LONG_STATUS": str(long_status)}
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True,
                            timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return result.returncode, calls, result.stdout + result.stderr


@pytest.mark.parametrize(("default_status", "long_status", "expected", "long_runs"), [
    (0, 0, 0, True),
    (0, 5, 0, True),   # no test marked long: nothing more to run
    (0, 1, 1, True),
    (1, 0, 1, True),   # a failure in the default run still lets the long tests run and report
    (1, 1, 1, True),
    (5, 0, 5, False),  # the default run collected nothing: something is broken, stop
    (2, 0, 2, False),  # interrupted or a usage error
])
def test_ci_runs_default_then_long_and_fails_when_either_fails(tmp_path, default_status, long_status, expected,
                                                                long_runs):
    status, calls, output = run_ci(tmp_path, default_status, long_status)
    assert status == expected, output
    assert calls[0] == "-m pytest", calls
    assert calls[1:] == (["-m pytest -m long"] if long_runs else []), calls
    # pytest's own summary lines reach the log
    assert "== default run summary ==" in output
    assert ("== long run summary ==" in output) == long_runs
