#!/usr/bin/env bash
# Builds a container image from the local binary with podman, without a registry, and runs it
# against the dev stack: `FROM scratch` + the binary + the libraries `ldd` lists + /etc/passwd for
# the non-root user, then the runtime stage's own instructions from ../../Dockerfile (USER, ENV,
# EXPOSE, STOPSIGNAL, HEALTHCHECK, ENTRYPOINT, CMD). debian:bookworm-slim cannot be pulled here,
# so the Dockerfile's apt-get steps are not exercised; tests/deploy/check_deploy.py checks its
# package list against the same `ldd`.
#
# Checks: `coredb migrate` in the image (on a scratch database), `serve` with a read-only root
# file system, no capabilities and no-new-privileges as uid 10001; /health/ready and a query from
# the host; the image's HEALTHCHECK (`podman healthcheck run`); `coredb config print` inside masks
# the secrets; `podman stop` (SIGTERM) ends it with exit 0 after the drain.
#
# Usage: tests/deploy/image_test.sh BINARY   (CTest: deploy.image; the dev stack env exported)
#        COREDB_TEST_IMAGE=IMAGE tests/deploy/image_test.sh BINARY   runs the same checks on an
#        image built elsewhere (e.g. from the Dockerfile: tests/deploy/build_dockerfile.sh)
# Exit 77 (CTest: skipped) with the reason when podman is missing or cannot run a container here,
# or the dev stack env is not exported.
set -euo pipefail

SKIP=77
BIN="$(readlink -f "${1:?usage: $0 BINARY}")"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf 'image_test: %s\n' "$*" >&2; }
skip() { printf 'SKIPPED: %s\n' "$*"; exit "$SKIP"; }
fail() { printf 'FAILED: %s\n' "$*"; exit 1; }

command -v podman >/dev/null 2>&1 || skip "podman is not installed (apt-get install podman; runc too where crun cannot run containers)"
[[ -n "${DATABASE_URL:-}" && -n "${REDIS_URL:-}" && -n "${PG_SUPERUSER_URL:-}" ]] ||
  skip "the dev stack env is not exported (scripts/test does it; or eval \"\$(scripts/devstack env DIR)\")"
command -v psql >/dev/null 2>&1 || skip "psql is not installed (postgresql-client-15)"
command -v curl >/dev/null 2>&1 || skip "curl is not installed"

TAG="${COREDB_TEST_IMAGE:-localhost/coredb-image-test:$$}"
NAME="coredb-image-test-$$"
WORK="$(mktemp -d /tmp/coredb-image.XXXXXX)"
DB="coredb_image_test_$$"
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  [[ -n "${COREDB_TEST_IMAGE:-}" ]] || podman rmi -f "$TAG" >/dev/null 2>&1 || true
  psql "$PG_SUPERUSER_URL" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z "${COREDB_TEST_IMAGE:-}" ]]; then
  # --- the root file system: binary, its libraries, the user ---------------------------------------
  ROOT="$WORK/rootfs"
  mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc" "$ROOT/tmp"
  cp "$BIN" "$ROOT/usr/local/bin/coredb"
  strip --strip-debug "$ROOT/usr/local/bin/coredb" 2>/dev/null || true
  while read -r lib; do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done < <(ldd "$BIN" | grep -o '/[^ ]*' | sort -u)
  printf 'root:x:0:0:root:/root:/sbin/nologin\ncoredb:x:10001:10001:coredb:/nonexistent:/sbin/nologin\n' >"$ROOT/etc/passwd"
  printf 'root:x:0:\ncoredb:x:10001:\n' >"$ROOT/etc/group"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    mkdir -p "$ROOT/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
  fi

  # --- Containerfile: scratch + rootfs, then the Dockerfile's runtime-stage instructions -------------
  {
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "ENV PATH=/usr/local/bin"
    awk '/^FROM .* AS runtime/ {rt = 1; next} rt && /^(USER|ENV|EXPOSE|STOPSIGNAL|HEALTHCHECK|ENTRYPOINT|CMD) /' \
      "$REPO/Dockerfile"
  } >"$WORK/Containerfile"
  grep -q '^HEALTHCHECK' "$WORK/Containerfile" || fail "no HEALTHCHECK taken from the Dockerfile's runtime stage"
  log "Containerfile:"; sed 's/^/    /' "$WORK/Containerfile" >&2

  # HEALTHCHECK is a Docker-format instruction (OCI images drop it).
  if ! out="$(podman build --format docker -t "$TAG" -f "$WORK/Containerfile" "$WORK" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 20
    skip "podman build failed here (above): cannot build images on this machine"
  fi
else
  podman image exists "$TAG" || fail "COREDB_TEST_IMAGE=$TAG does not exist"
  log "testing the given image $TAG"
fi

# --- which podman run options work on this machine ------------------------------------------------
# Known obstacles: crun refuses cgroup v1/v2 "hybrid" hosts (runc copes), and a root without
# CAP_SYS_RESOURCE cannot raise RLIMIT_NPROC/NOFILE to podman's defaults.
NOFILE="$(ulimit -n)"
GLOBAL=() RUNOPTS=()
attempts=""
works=0
for runtime in "" runc; do
  [[ -n "$runtime" ]] && ! command -v "$runtime" >/dev/null 2>&1 && continue
  for limits in 0 1; do
    GLOBAL=() RUNOPTS=()
    [[ -n "$runtime" ]] && GLOBAL=(--runtime "$runtime")
    ((limits)) && RUNOPTS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit nproc=4096:4096)
    if out="$(timeout 120 podman "${GLOBAL[@]}" run --rm "${RUNOPTS[@]}" "$TAG" --version 2>&1)" &&
       grep -q '^coredb [0-9]' <<<"$out"; then
      works=1
      break 2
    fi
    attempts+=$'\n'"  podman ${GLOBAL[*]} run ${RUNOPTS[*]}: $(printf '%s' "$out" | tail -n 1)"
  done
done
((works)) || skip "podman built the image but cannot run a container on this machine:$attempts"
log "podman runs containers with: ${GLOBAL[*]} ${RUNOPTS[*]}"
P() { podman "${GLOBAL[@]}" "$@"; }

# --- migrate on a scratch database, then serve -----------------------------------------------------
psql "$PG_SUPERUSER_URL" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB OWNER coredb" >/dev/null ||
  fail "could not create the scratch database"
SCRATCH_URL="$(printf '%s' "$DATABASE_URL" | sed -E "s#/coredb(\\?|\$)#/$DB\\1#")"
[[ "$SCRATCH_URL" == *"/$DB"* ]] || fail "could not point DATABASE_URL at $DB"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TOKEN="image-test-admin-token-$$-0123456789"
COMMON=(--network host --read-only --cap-drop ALL --security-opt no-new-privileges
        -e DATABASE_URL="$SCRATCH_URL" -e REDIS_URL="$REDIS_URL" -e VECTOR_URL="${VECTOR_URL:-$SCRATCH_URL}")

P run --rm "${RUNOPTS[@]}" "${COMMON[@]}" "$TAG" migrate >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log"; fail "coredb migrate in the image failed"; }
log "migrate in the image: ok ($(tail -n 1 "$WORK/migrate.log"))"

# HOST=127.0.0.1: the host network namespace is shared, so keep the port on loopback.
P run -d --name "$NAME" "${RUNOPTS[@]}" "${COMMON[@]}" -e HOST=127.0.0.1 -e PORT="$PORT" \
  -e COREDB_ADMIN_TOKEN="$TOKEN" -e SHUTDOWN_DRAIN_DELAY=500 -e SHUTDOWN_TIMEOUT=5000 "$TAG" >/dev/null ||
  fail "podman run -d failed"

ready=0
for _ in $(seq 150); do
  if curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if ((!ready)); then P logs "$NAME" 2>&1 | tail -n 30; fail "/health/ready did not answer 200 within 30 s"; fi
log "serve in the image: /health/ready 200"

body="$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"sql":"SELECT 1 AS test"}' "http://127.0.0.1:$PORT/api/v1/query")" || fail "POST /api/v1/query failed"
[[ "$body" == *'"rows":[{"test":1}]'* ]] || fail "unexpected query answer: $body"
log "POST /api/v1/query from the host: $body"

user="$(P inspect -f '{{.Config.User}}' "$NAME")"
[[ "$user" == 10001:10001 ]] || fail "container user is '$user', expected 10001:10001"
[[ "$(P inspect -f '{{.Config.StopSignal}}' "$NAME")" =~ ^(15|SIGTERM)$ ]] || fail "stop signal is not SIGTERM"

P healthcheck run "$NAME" >"$WORK/health.log" 2>&1 || { cat "$WORK/health.log"; fail "the image's HEALTHCHECK failed"; }
log "HEALTHCHECK (coredb health --live): $(tr '\n' ' ' <"$WORK/health.log")healthy"

printed="$(P exec "$NAME" coredb config print)" || fail "coredb config print in the container failed"
secret_pw="$(printf '%s' "$DATABASE_URL" | sed -E 's#^[a-z]+://[^:]*:([^@]*)@.*#\1#')"
[[ -n "$secret_pw" && "$printed" != *"$secret_pw"* && "$printed" != *"$TOKEN"* ]] ||
  fail "config print in the container shows a secret"
[[ "$printed" == *"COREDB_ADMIN_TOKEN=****"* && "$printed" == *"PORT=$PORT"* ]] || fail "config print: $printed"
log "coredb config print in the container: secrets masked"

start=$(date +%s%N)
P stop -t 20 "$NAME" >/dev/null || fail "podman stop failed"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
code="$(P inspect -f '{{.State.ExitCode}}' "$NAME")"
P logs "$NAME" >"$WORK/serve.log" 2>&1 || true
[[ "$code" == 0 ]] || { tail -n 20 "$WORK/serve.log"; fail "exit code after SIGTERM is $code, expected 0"; }
if ! grep -q 'shutting down' "$WORK/serve.log" || ! grep -q 'stopped' "$WORK/serve.log"; then
  tail -n 20 "$WORK/serve.log"
  fail "no graceful stop in the logs"
fi
((elapsed_ms >= 500)) || fail "stopped in $elapsed_ms ms: the 500 ms drain delay was not honoured"
log "podman stop (SIGTERM): exit 0 after $elapsed_ms ms (drain delay 500 ms)"
if [[ -n "${COREDB_TEST_IMAGE:-}" ]]; then
  echo "ok: image $TAG run against the dev stack"
else
  echo "ok: image built from the local binary and run against the dev stack"
fi
