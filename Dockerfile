# The controller's image: `mlflow-gitops controller` (docs/controller.md, deploy/).
# Two stages: the first builds the runtime environment with uv from uv.lock (no dev group),
# the second holds only that environment, git for gitpython, and a non-root user.
# tests/test_dockerfile.py runs the build stage's steps in a fresh venv and checks the rest.

FROM python:3.11.14-slim-bookworm AS build

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
# Dependencies first, so a change to the code alone reuses this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --compile-bytecode
COPY controller ./controller
RUN uv sync --frozen --no-dev --no-editable --compile-bytecode

FROM python:3.11.14-slim-bookworm

# gitpython runs the git binary; ssh remotes need the ssh client.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# Its home is the state dir, owned by it: writable under `docker run` as well as on the
# Kubernetes emptyDir that replaces it.
RUN useradd --system --uid 10001 --user-group --create-home \
    --home-dir /var/lib/mlflow-gitops --shell /usr/sbin/nologin mlflow-gitops
COPY --from=build /app/.venv /app/.venv
# HOME on the writable state dir: git and MLflow may write there; the root is read-only.
ENV PATH=/app/.venv/bin:$PATH \
    HOME=/var/lib/mlflow-gitops \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/mlflow-gitops
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["mlflow-gitops"]
CMD ["controller", "--listen", "0.0.0.0:8080", "--state-dir", "/var/lib/mlflow-gitops/state"]
