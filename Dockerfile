# GRPO Explorer as a container image.
#   docker build -t grpo-explorer .                      # CPU-only torch (default)
#   docker run --rm -p 8501:8501 grpo-explorer           # then open http://localhost:8501
# Streamlit's Docker deployment guide, tightened: slim Python 3.11, CPU torch unless asked, pinned
# requirements, no build tools or git in the image, a non-root user, a curl-free health check.
FROM python:3.11-slim

# Where torch comes from. PyTorch's CPU index keeps the image around 1.5 GB; PyPI's Linux torch wheel is
# a CUDA build that brings several GB of CUDA libraries. For a GPU host build with, for example,
#   --build-arg TORCH_INDEX_URL=https://pypi.org/simple                     (PyPI's CUDA build)
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128      (a chosen CUDA version)
# and run with `docker run --gpus all ...`.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Must equal the torch pin in requirements.txt (tests/test_deploy.py checks it).
ARG TORCH_VERSION=2.13.0

# No .pyc files on a read-only code tree, logs straight to `docker logs`, no pip cache or version nag.
# The server listens on every interface of the container, on 8501; `-e STREAMLIT_SERVER_PORT=...` or
# `--server.port ...` after the image name moves both the server and the health check.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501

WORKDIR /app

# Dependencies before the code, so editing the app does not reinstall torch. torch is installed first
# from TORCH_INDEX_URL; `torch==2.13.0` in requirements.txt is then already met (2.13.0+cpu is a 2.13.0)
# and pip leaves it alone instead of fetching PyPI's CUDA build.
COPY requirements.txt ./
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
    && pip install --no-cache-dir -r requirements.txt

# Only what the app runs (.dockerignore keeps tests, caches, the venv and .git out of the context).
COPY .streamlit/ .streamlit/
COPY grpo_core/ grpo_core/
COPY app/ app/
COPY deploy/entrypoint.py deploy/healthcheck.py deploy/

# Code stays owned by root and read-only to the server's user. A numeric USER lets Kubernetes'
# runAsNonRoot verify it without reading /etc/passwd.
RUN groupadd --gid 10001 grpo \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin grpo
USER 10001:10001

EXPOSE 8501

# Python's urllib instead of curl: the slim image has no curl and needs no extra package for this. It
# checks the port the entrypoint started the server on (a separate process, it never sees the server's
# flags), so `--server.port` after the image name moves it too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

# The README's run command, `streamlit run app/main.py`, started by deploy/entrypoint.py once it has noted
# the server's port for the health check (it then execs streamlit, which stays PID 1 and gets the
# signals). Options go after the image name, e.g. `docker run ... grpo-explorer --server.port 9000
# --server.disconnectedSessionTTL 60`, or as STREAMLIT_* environment variables.
ENTRYPOINT ["python", "/app/deploy/entrypoint.py"]
