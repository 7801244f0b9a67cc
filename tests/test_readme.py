"""README.md's two commands stay true: .ci/run runs the test command verbatim, the run command starts the app."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    section = (ROOT / "README.md").read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in blocks if b.strip() in section]


def test_readme_gives_exactly_two_commands_run_then_test():
    commands = readme_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert "requirements.txt" in run and run.endswith("streamlit run app/main.py")
    assert "requirements-dev.txt" in test and "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = readme_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_torch_is_pinned_and_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+]*", line), f"{name}: {line} is not pinned"
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().split()
