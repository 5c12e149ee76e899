# A throwaway PostgreSQL for the tests (docs/adr/0033-postgresql-store.md); sourced after
# lib.sh. The cluster lives in a temp dir, listens only on a Unix socket there (no port, no
# clash with another test), runs as `nobody` when the tests run as root (initdb refuses root),
# and is stopped (immediate) and removed by the EXIT trap.
#
#   pg_start                 starts it; sets PG_DIR, PG_BIN, PG_ADMIN_URI
#   pg_uri NAME              prints the URI of database NAME, creating it when missing
#   pg_psql NAME SQL         runs SQL in database NAME (psql -Atq: one value per line)
#   pg_restart               pg_ctl restart (a database restart under a running serve)
#   pg_stop / pg_resume      stop (fast) / start again, for outages
#   pg_mortar_wrap           points $MORTAR at a wrapper that turns `--data DIR` of `serve`,
#                            `token` and `db` into `--store <the URI of a database for DIR>`:
#                            the serve suites run unchanged against PostgreSQL (MT_TEST_STORE=pg)

PG_BIN=$(pg_config --bindir 2>/dev/null || true)
[[ -x $PG_BIN/initdb ]] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x $PG_BIN/initdb ]] || fail "PostgreSQL server binaries not found (scripts/deps.sh installs postgresql)"

pg_as() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u nobody -- "$@"; else "$@"; fi
}

pg_cleanup() {
  local pid # the servers first (they hold connections), then the cluster
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n ${PG_DIR:-} && -d $PG_DIR ]]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -s stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  cleanup
}

pg_start() {
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mortar-pg.XXXXXX")
  chmod 755 "$PG_DIR"
  [[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$PG_DIR"
  trap pg_cleanup EXIT
  timeout 60 bash -c "$(declare -f pg_as); pg_as '$PG_BIN/initdb' -D '$PG_DIR/data' -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync" \
    >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; fail "initdb failed"; }
  pg_resume
  PG_ADMIN_URI="postgresql://postgres@/postgres?host=$PG_DIR"
}

pg_resume() {
  timeout 60 bash -c "$(declare -f pg_as); pg_as '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -w -s -o \"-k $PG_DIR -c listen_addresses= -c fsync=off -c max_connections=200\" start" ||
    { tail -n 20 "$PG_DIR/log" >&2; fail "PostgreSQL did not start"; }
}

pg_stop() {
  timeout 60 bash -c "$(declare -f pg_as); pg_as '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast -w -s stop" ||
    fail "PostgreSQL did not stop"
}

pg_restart() {
  timeout 60 bash -c "$(declare -f pg_as); pg_as '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -m fast -w -s -o \"-k $PG_DIR -c listen_addresses= -c fsync=off -c max_connections=200\" restart" ||
    { tail -n 20 "$PG_DIR/log" >&2; fail "PostgreSQL did not restart"; }
}

pg_psql() {
  psql -X -Atq -v ON_ERROR_STOP=1 "postgresql://postgres@/$1?host=$PG_DIR" -c "$2"
}

pg_uri() {
  local name=$1
  if [[ -z $(psql -X -Atq "$PG_ADMIN_URI" -c "SELECT 1 FROM pg_database WHERE datname = '$name'") ]]; then
    psql -X -Atq "$PG_ADMIN_URI" -c "CREATE DATABASE \"$name\"" >/dev/null
  fi
  echo "postgresql://postgres@/$name?host=$PG_DIR"
}

pg_mortar_wrap() {
  local real=$MORTAR
  cat >"$WORK/mortar-pg" <<EOS
#!/usr/bin/env bash
# mortar with --data DIR of serve/token/db turned into --store (tests/integration/pg_lib.sh)
args=("\$1")
case \$1 in serve | token | db) rewrite=1 ;; *) rewrite=0 ;; esac
shift
while [[ \$# -gt 0 ]]; do
  if [[ \$rewrite == 1 && ( \$1 == --data || \$1 == --data=* ) ]]; then
    if [[ \$1 == --data ]]; then dir=\$2; shift; else dir=\${1#--data=}; fi
    name=d_\$(readlink -m "\$dir" | md5sum | cut -c1-16)
    if [[ -z \$(psql -X -Atq "$PG_ADMIN_URI" -c "SELECT 1 FROM pg_database WHERE datname = '\$name'") ]]; then
      psql -X -Atq "$PG_ADMIN_URI" -c "CREATE DATABASE \$name" >/dev/null 2>&1 || true
    fi
    mkdir -p "\$dir"
    args+=(--store "postgresql://postgres@/\$name?host=$PG_DIR")
  else
    args+=("\$1")
  fi
  shift
done
exec "$real" "\${args[@]}"
EOS
  chmod +x "$WORK/mortar-pg"
  MORTAR_REAL=$real
  MORTAR=$WORK/mortar-pg
}
