#!/usr/bin/env bash
# Start PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) when they are down, then
# wait until they answer. Idempotent: a running service is left alone.
# Under CI=true a service that cannot be started is fatal: CI runs the PostgreSQL and
# Redis tests and must not quietly fall back to SQLite. Elsewhere it is a warning.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432
REDIS_HOST=127.0.0.1 REDIS_PORT=6379
WAIT_SECONDS=${SERVICES_WAIT_SECONDS:-30}
status=0

problem() {
  echo "services: ${CI:+CI=$CI: }$*" >&2
  status=1
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

wait_for() {  # wait_for NAME CHECK
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$2"; do
    if [ $SECONDS -ge $deadline ]; then
      problem "$1 did not become ready within ${WAIT_SECONDS}s"
      return 1
    fi
    sleep 0.5
  done
}

# PostgreSQL
if ! command -v pg_isready >/dev/null; then
  problem "PostgreSQL client tools not found (Debian: apt-get install postgresql)"
elif pg_up; then
  :
elif ! command -v pg_ctlcluster >/dev/null || [ ! -d /etc/postgresql ]; then
  problem "PostgreSQL is down and no Debian cluster was found to start"
else
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "services: starting PostgreSQL $version"
  if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
    wait_for PostgreSQL pg_up && echo "services: PostgreSQL ready on $PG_HOST:$PG_PORT"
  else
    problem "pg_ctlcluster $version main start failed"
  fi
fi

# Redis
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  problem "redis-server/redis-cli not found (Debian: apt-get install redis-server)"
elif redis_up; then
  :
else
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  if redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; then
    wait_for Redis redis_up && echo "services: Redis ready on $REDIS_HOST:$REDIS_PORT"
  else
    problem "redis-server failed to start (see /var/log/redis/ci.log)"
  fi
fi

if [ $status -ne 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "services: error: CI needs PostgreSQL and Redis" >&2
    exit 1
  fi
  echo "services: warning: continuing; tests needing the missing service will report it" >&2
fi
exit 0
