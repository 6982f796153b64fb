# The backend's image. Stage names are BUILD_TARGET's values, so docker-compose.yml builds `target: ${BUILD_TARGET}`:
#   dev         runserver with the working tree mounted over /app (docker-compose.override.yml): `make dev-python`
#   production  code baked in, non-root, static files collected, gunicorn: `make prod-python`

# ---- wheels: mysqlclient, the MySQL driver, compiled (PyPI has no Linux wheel of it), so no compiler reaches the image
FROM python:3.11-slim AS wheels

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential default-libmysqlclient-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

COPY requirements-mysql.txt ./
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels -r requirements-mysql.txt

# ---- base: the OS packages and the pinned Python dependencies, shared by both targets --------------------------
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# postgresql-client gives the entrypoints pg_isready (and users psql); libmariadb3 is the client library mysqlclient
# was compiled against (the entrypoints wait for MySQL through mysqlclient itself). Every other dependency ships a
# wheel, so no compiler is installed at all.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client libmariadb3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Requirements before the code: the dependency layer is rebuilt only when the requirements change. The image serves
# either database, so it has the MySQL driver too.
COPY requirements.txt requirements-mysql.txt ./
COPY --from=wheels /wheels /tmp/wheels
RUN pip install --find-links /tmp/wheels -r requirements.txt -r requirements-mysql.txt && rm -rf /tmp/wheels

COPY docker/*.sh /usr/local/bin/
RUN chmod 0755 /usr/local/bin/*.sh

EXPOSE 8000

# The public probe: 200 when the app and its database answer, 503 (-> urlopen raises -> unhealthy) otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/healthz', timeout=4)"]

# ---- dev: Django's runserver, reloading on every change of the mounted code -------------------------------------
FROM base AS dev

ENV BUILD_TARGET=dev
# A copy of the code lets the image run on its own; compose mounts the working tree over it for live reload.
COPY . .

ENTRYPOINT ["entrypoint-dev.sh"]
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]

# ---- production: gunicorn as an unprivileged user ----------------------------------------------------------------
FROM base AS production

ENV BUILD_TARGET=production

RUN useradd --system --user-group --uid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app

# Owned by root and read-only for `app`: a compromised worker cannot rewrite the code it runs.
COPY . .

# collectstatic needs the production settings (WhiteNoise's hashed file names), not real secrets: throwaway values
# for this one command, never stored in the image. The real ones come from the environment at run time.
RUN BUILD_TARGET=production JWT_SECRET=build-only-collectstatic-0000000000000000 \
    CLIENT_ID=build-only.collectstatic CLIENT_SECRET=build-only-collectstatic \
    python manage.py collectstatic --noinput

USER app

ENTRYPOINT ["entrypoint-prod.sh"]
CMD ["gunicorn", "wsgi:application", "--bind", "0.0.0.0:8000", "-c", "gunicorn.conf.py"]
