#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: installs Debian's `postgresql` if its binaries are
# missing, then `initdb` + `pg_ctl start` on a temporary folder and a free loopback port, as the
# `postgres` user when run as root (initdb refuses root). Prints shell `export` lines on stdout:
#
#   CPREG_TEST_PG_URL   postgres://postgres@127.0.0.1:PORT/postgres  (what the PostgreSQL tests use)
#   CPREG_TEST_PG_BIN   the folder of initdb/pg_ctl                  (the fault tests start their own)
#   CPREG_TEST_PG_DATA  the cluster's data folder
#
# Usage:  eval "$(bash scripts/ci/start-postgres.sh [OWNER_PID])"
#   With OWNER_PID, a watchdog stops the cluster and removes its folder once that process ends.
#   CPREG_PG_NO_INSTALL=1 never calls apt-get (then a missing server is an error).
#   Stop by hand: pg_ctl -D "$CPREG_TEST_PG_DATA" stop -m fast
set -euo pipefail
owner=${1:-}

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

bin=$(find_bin || true)
if [ -z "$bin" ]; then
  if [ "${CPREG_PG_NO_INSTALL:-}" = 1 ]; then
    echo "start-postgres: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y postgresql >&2
  bin=$(find_bin)
fi

# as root, the cluster belongs to `postgres`; otherwise to whoever runs this
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
dir=$(mktemp -d "${TMPDIR:-/tmp}/cpreg-pg-XXXXXX")
chmod 755 "$dir"
[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
data="$dir/data"
as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# durability as in production: fsync and synchronous_commit on (the defaults, stated)
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
log_min_messages = warning
EOF
as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >&2 ||
  { cat "$dir/server.log" >&2; exit 1; }

if [ -n "$owner" ]; then
  # stops the cluster when the owner ends; detached so it holds no pipe of the caller open
  nohup bash -c "
    while kill -0 $owner 2>/dev/null; do sleep 2; done
    if [ \"\$(id -u)\" -eq 0 ]; then runuser -u postgres -- '$bin/pg_ctl' -D '$data' stop -m fast; else '$bin/pg_ctl' -D '$data' stop -m fast; fi
    rm -rf '$dir'
  " >/dev/null 2>&1 </dev/null &
fi

echo "export CPREG_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres"
echo "export CPREG_TEST_PG_BIN=$bin"
echo "export CPREG_TEST_PG_DATA=$data"
echo "start-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $data" >&2
