# syntax=docker/dockerfile:1
# core-database-service image: build stage (Debian's toolchain and -dev packages), runtime stage
# (the binary and the shared libraries it links, nothing else). Configuration comes only from the
# environment (12-factor; `coredb config vars` lists the variables, `coredb config print` shows
# what a container got, secrets masked); no secret is baked in.
#
#   docker build -t coredb .
#   docker run --rm -e COREDB_ADMIN_TOKEN=... -e DATABASE_URL=... -e REDIS_URL=... -p 8095:8095 coredb
#
# tests/deploy/check_deploy.py checks RUNTIME_PACKAGES below against `ldd` of the built binary
# (each library mapped to its Debian package with dpkg -S).

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libboost1.81-dev libboost-json1.81-dev \
      libpq-dev libhiredis-dev libspdlog-dev libfmt-dev libssl-dev \
      python3 python3-yaml nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The admin console (console/): tsc from its lockfile, compiled and embedded by the build.
COPY console/package.json console/package-lock.json console/
RUN cd console && npm ci --no-audit --no-fund --loglevel=error
COPY console/tsconfig.json console/
COPY console/src/ console/src/
COPY console/static/ console/static/
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY migrations/ migrations/
COPY docs/openapi.yaml docs/openapi.yaml
COPY src/ src/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOREDB_BUILD_TESTS=OFF -DCOREDB_BUILD_BENCH=OFF \
 && cmake --build /build --target coredb -j"$(nproc)" \
 && strip --strip-debug -o /coredb /build/coredb \
 && /coredb --version

# ---------------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
# The packages of the libraries `ldd coredb` lists that the slim image lacks (their own
# dependencies come with them), and CA certificates for PG_SSL=verify-full / PG_SSL_ROOT_CERT.
ARG RUNTIME_PACKAGES="libboost-json1.81.0 libpq5 libssl3 libspdlog1.10 libfmt9 libhiredis0.14 libstdc++6 libgcc-s1 libc6 ca-certificates"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES} \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 coredb \
 && useradd --system --uid 10001 --gid coredb --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin coredb
COPY --from=build /coredb /usr/local/bin/coredb

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# Listen on every interface inside the container (the service's own default is 127.0.0.1).
ENV HOST=0.0.0.0 PORT=8095
EXPOSE 8095
# SIGTERM starts the graceful stop: readiness 503 for SHUTDOWN_DRAIN_DELAY ms, then in-flight
# requests get SHUTDOWN_TIMEOUT ms (set the runtime's stop grace period above their sum).
STOPSIGNAL SIGTERM
# The slim image has no curl: the binary probes its own /health/live on HOST:PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["coredb", "health", "--live"]
ENTRYPOINT ["coredb"]
CMD ["serve"]
