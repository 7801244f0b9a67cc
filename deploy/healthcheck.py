"""The image's HEALTHCHECK: exit 0 if the server answers ``/_stcore/health`` on the port it was started on.

The port comes from the file deploy/entrypoint.py wrote when it started the server (so a
``--server.port`` flag after the image name moves the check too); without that file, from
``STREAMLIT_SERVER_PORT``, else 8501. Only Python's standard library: the slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.request

from entrypoint import port_file, server_port

TIMEOUT_S = 4.0  # under the Dockerfile's --timeout=5s


def checked_port() -> str:
    try:
        with open(port_file()) as f:
            port = f.read().strip()
        if port.isdigit():
            return port
    except OSError:
        pass
    return server_port([])


def main() -> int:
    url = f"http://127.0.0.1:{checked_port()}/_stcore/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            if response.status == 200:
                return 0
            print(f"{url}: HTTP {response.status}", file=sys.stderr)
    except OSError as error:  # refused, timed out, HTTP errors (urllib's are OSErrors too)
        print(f"{url}: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
