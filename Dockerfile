# Switchboard: build the wheel in one stage, run it as a non-root user in the next.
FROM python:3.11-slim AS build
WORKDIR /src
# Everything but what .dockerignore leaves out (tests, benches, docs): the
# package list itself lives in pyproject.toml, its versions in requirements.lock.
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_SMTP_HOST=0.0.0.0 \
    SWITCHBOARD_DATABASE_URL=sqlite:////data/switchboard.sqlite3
RUN useradd --create-home --uid 10001 switchboard && mkdir /data && chown switchboard /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER switchboard
WORKDIR /data
VOLUME /data
EXPOSE 8080 2525
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
# Publish 2525 as well only if this node receives mail.
CMD ["switchboard", "serve", "--host", "0.0.0.0"]
