"""The image's ENTRYPOINT: note the port the server will listen on, then become the README's run command.

``docker run ... grpo-explorer --server.port 9000`` hands the flag to Streamlit, but the HEALTHCHECK runs
as a separate process that sees only the image's environment (``STREAMLIT_SERVER_PORT=8501``), never the
server's command line. So before it starts the server this script resolves the port the way Streamlit
does (the last ``--server.port`` flag, else ``STREAMLIT_SERVER_PORT``, else 8501), writes it to
``PORT_FILE`` for deploy/healthcheck.py, exports it, and then replaces itself with
``streamlit run app/main.py <the arguments>`` (the server stays the container's main process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

#: The README's run command; the arguments given after the image name follow it.
RUN_COMMAND = ["streamlit", "run", "app/main.py"]
DEFAULT_PORT = "8501"
#: Where the resolved port is written for the health check; override with GRPO_PORT_FILE.
DEFAULT_PORT_FILE = "/tmp/grpo-explorer.port"


def port_file(env: Mapping[str, str] = os.environ) -> str:
    return env.get("GRPO_PORT_FILE") or DEFAULT_PORT_FILE


def server_port(args: Sequence[str], env: Mapping[str, str] = os.environ) -> str:
    """The port ``streamlit run app/main.py *args`` listens on: a flag beats the environment (as in Streamlit)."""
    port = env.get("STREAMLIT_SERVER_PORT") or DEFAULT_PORT
    flag = None
    for i, arg in enumerate(args):
        if arg == "--":  # what follows goes to the script, not to Streamlit
            break
        if arg == "--server.port" and i + 1 < len(args):
            flag = args[i + 1]
        elif arg.startswith("--server.port="):
            flag = arg.partition("=")[2]
    return flag if flag is not None else port


def main(args: Sequence[str]) -> None:
    port = server_port(args)
    path = port_file()
    try:
        with open(path, "w") as f:
            f.write(port + "\n")
    except OSError as error:  # e.g. a read-only root file system without a tmpfs on /tmp
        print(f"entrypoint: cannot write {path} ({error}); the health check will use "
              f"STREAMLIT_SERVER_PORT or {DEFAULT_PORT}", file=sys.stderr)
    os.environ["STREAMLIT_SERVER_PORT"] = port
    os.execvp(RUN_COMMAND[0], [*RUN_COMMAND, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
