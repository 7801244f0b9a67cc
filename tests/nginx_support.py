"""Run deploy/nginx.conf (the compose proxy's config) with Debian's nginx, unprivileged-style, on loopback.

Everything nginx writes (pid file, logs, temp files) lives in a temporary prefix directory, so the test
needs no system configuration and leaves nothing behind; nginx is stopped by the PID it was started with.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from tests.support import ROOT, free_port, require, stop, wait_healthy

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
#: The template's placeholders; docker-compose.yml's proxy environment must provide exactly these.
PLACEHOLDERS = ("NGINX_PORT", "GRPO_APP_ADDR")


def find_nginx() -> str | None:
    """Debian's nginx, on PATH or where the package puts it (root's PATH may lack /usr/sbin); None if absent."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_binary() -> str:
    found = find_nginx()
    require(found is not None, "no nginx on PATH (apt-get install -y nginx)")
    return found


def render(listen: str, upstreams: list[str], template: str | None = None) -> str:
    """Fill the template as the nginx image's envsubst would, with one ``server`` line per upstream."""
    text = NGINX_TEMPLATE.read_text() if template is None else template
    lines = []
    for line in text.splitlines():
        if "${GRPO_APP_ADDR}" in line and not line.lstrip().startswith("#"):
            lines.extend(line.replace("${GRPO_APP_ADDR}", address) for address in upstreams)
        else:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    text = text.replace("${NGINX_PORT}", listen)
    # Comments may mention the placeholders; directives must not keep any.
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    left = re.findall(r"\$\{\w+\}", code)
    assert not left, f"unfilled placeholders in deploy/nginx.conf: {left}"
    return text


def write_prefix(prefix: Path, listen: str, upstreams: list[str]) -> Path:
    """Write a main nginx.conf in ``prefix`` that includes the rendered template; return its path."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "grpo.conf").write_text(render(listen, upstreams))
    temp_dirs = {name: prefix / "temp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp_dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        # As root, nginx's workers drop to an unprivileged user: let that user use the temp folders.
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        for path in [prefix, prefix / "temp", *temp_dirs.values()]:
            path.chmod(0o777 if "temp" in path.parts else 0o755)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {temp_dirs['client_body']};
    proxy_temp_path {temp_dirs['proxy']};
    fastcgi_temp_path {temp_dirs['fastcgi']};
    uwsgi_temp_path {temp_dirs['uwsgi']};
    scgi_temp_path {temp_dirs['scgi']};
    include grpo.conf;
}}
""")
    return conf


def check_config(prefix: Path, upstreams: list[str]) -> subprocess.CompletedProcess:
    """``nginx -t`` on the rendered template."""
    conf = write_prefix(prefix, f"127.0.0.1:{free_port()}", upstreams)
    return subprocess.run([nginx_binary(), "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                          capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def nginx_proxy(prefix: Path, upstreams: list[str]):
    """Run nginx on 127.0.0.1:<free port> in front of ``upstreams``; yield its base URL; stop it by PID."""
    port = free_port()
    conf = write_prefix(prefix, f"127.0.0.1:{port}", upstreams)
    proc = subprocess.Popen([nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(f"{base}/healthz", 20, proc)
        except (RuntimeError, TimeoutError) as err:
            log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
            raise RuntimeError(f"nginx did not start ({err}):\n{log[-3000:]}") from None
        yield base
    finally:
        stop(proc)
