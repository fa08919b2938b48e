# The image of the `api`, `worker` and `migrate` services of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml ./
COPY penguinmails/__init__.py penguinmails/__init__.py
RUN pip install . && pip uninstall -y penguinmails

# The code runs from /app (worker.py, alembic.ini and migrations/ are not part of a wheel).
COPY . .

RUN useradd --system --uid 10001 --home-dir /app penguinmails
USER penguinmails

EXPOSE 8000
# The API's own launcher: host, port, workers and trusted proxies come from Settings.
ENV API_HOST=0.0.0.0 \
    API_PORT=8000
CMD ["python", "-m", "api"]
