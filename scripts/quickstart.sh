#!/usr/bin/env bash
# The main job in one command, on a fresh Debian/Ubuntu machine (root or sudo, apt reachable, .NET 10 SDK,
# no Docker needed):
#   scripts/quickstart.sh          start (or reuse) PostgreSQL and two Redis servers as local processes, create
#                                  the demo schema, (re)start the worker in direct mode, run a demo workload
#   scripts/quickstart.sh --stop   stop everything this script started (by the PIDs it recorded)
#
# Everything lives in .local/quickstart/ (git-ignored): data, logs, PID files, the built worker. The servers
# use non-default ports, so they never fight a system PostgreSQL or Redis. Re-running is safe: running servers
# are reused, the demo schema is created only where missing, the worker is rebuilt and restarted (its
# replication slot resumes where it stopped).
set -Eeuo pipefail
trap 'printf "\033[31mquickstart failed at line %s: %s (exit %s)\033[0m\n" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

STATE="$REPO/.local/quickstart"
PG_PORT=${QUICKSTART_PG_PORT:-55432}
EAST_PORT=${QUICKSTART_REDIS_EAST_PORT:-56379}
WEST_PORT=${QUICKSTART_REDIS_WEST_PORT:-56380}
HTTP_URL=${QUICKSTART_HTTP_URL:-http://127.0.0.1:8080}
STATUS_URL=${QUICKSTART_STATUS_URL:-http://127.0.0.1:8081}
DATABASE=invalidator_demo
PUBLICATION=invalidator_demo
SLOT=invalidator_demo
PG_DIR="$STATE/postgres"
PGDATA="$PG_DIR/data"
WORKER_DIR="$STATE/worker"
WORKER_PID="$STATE/worker.pid"
WORKER_LOG="$STATE/worker.log"
CONFIG="$STATE/invalidator.json"

export DEBIAN_FRONTEND=noninteractive DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\033[31mquickstart failed: %s\033[0m\n' "$*" >&2; exit 1; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
pid_from() { [[ -s $1 ]] && head -n1 "$1" | tr -dc '0-9' || true; }

as_root=()
[[ $(id -u) -eq 0 ]] || as_root=(sudo -n)

# PostgreSQL refuses to run as root: as root its programs run as the postgres user.
pg_bin() { compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1 | xargs -r dirname; }
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
psql_demo() { PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$DATABASE" -v ON_ERROR_STOP=1 -Atq "$@"; }
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"; }

redis_port_of() { [[ $1 == east ]] && echo "$EAST_PORT" || echo "$WEST_PORT"; }

# ---------------------------------------------------------------------------------------------------------
stop_all() {
    local stopped=0
    local pid
    pid=$(pid_from "$WORKER_PID")
    if alive "$pid"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
        alive "$pid" && kill -KILL "$pid"
        echo "stopped the worker (PID $pid)"; stopped=1
    fi
    rm -f "$WORKER_PID"

    for region in east west; do
        local port pidfile
        port=$(redis_port_of "$region")
        pidfile="$STATE/redis-$region.pid"
        pid=$(pid_from "$pidfile")
        if alive "$pid"; then
            kill -TERM "$pid"
            for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
            alive "$pid" && kill -KILL "$pid"
            echo "stopped Redis $region on port $port (PID $pid)"; stopped=1
        fi
        rm -f "$pidfile"
    done

    pid=$(pid_from "$PGDATA/postmaster.pid")
    if alive "$pid"; then
        as_pg "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
        echo "stopped PostgreSQL on port $PG_PORT (PID $pid)"; stopped=1
    fi

    [[ $stopped -eq 1 ]] || echo "nothing was running"
    echo "Data and logs stay in $STATE (delete it for a fresh start)."
}

if [[ ${1:-} == --stop ]]; then
    stop_all
    exit 0
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--stop]" >&2
    exit 2
fi

# ---------------------------------------------------------------------------------------------------------
say "Checking prerequisites"
command -v dotnet >/dev/null || fail "the .NET 10 SDK is not installed (https://dotnet.microsoft.com/download)"
packages=()
[[ -n $(pg_bin) ]] || packages+=(postgresql)
command -v redis-server >/dev/null || packages+=(redis-server)
command -v redis-cli >/dev/null || packages+=(redis-tools)
if ((${#packages[@]})); then
    command -v apt-get >/dev/null || fail "missing ${packages[*]} and no apt-get to install them"
    echo "installing ${packages[*]} with apt"
    "${as_root[@]}" apt-get update -qq || fail "apt-get update failed"
    "${as_root[@]}" apt-get install -y -qq "${packages[@]}" </dev/null >/dev/null || fail "apt-get install ${packages[*]} failed"
fi
PG_BIN=$(pg_bin)
[[ -n $PG_BIN ]] || fail "PostgreSQL's initdb was not found after installing postgresql"
mkdir -p "$STATE"

# ---------------------------------------------------------------------------------------------------------
say "PostgreSQL (wal_level=logical) on 127.0.0.1:$PG_PORT"
if alive "$(pid_from "$PGDATA/postmaster.pid")" && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    echo "already running (PID $(pid_from "$PGDATA/postmaster.pid"))"
else
    mkdir -p "$PG_DIR"
    [[ $(id -u) -ne 0 ]] || chown postgres:postgres "$PG_DIR"
    as_pg test -w "$PG_DIR" || fail "the postgres user cannot write $PG_DIR (is a parent directory closed to other users?)"
    if [[ ! -s $PGDATA/PG_VERSION ]]; then
        as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
            || fail "initdb failed, see $PG_DIR/initdb.log"
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_DIR/postgres.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10" \
        start >/dev/null || fail "PostgreSQL did not start; see $PG_DIR/postgres.log: $(tail -n 3 "$PG_DIR/postgres.log" 2>/dev/null)"
    echo "started (PID $(pid_from "$PGDATA/postmaster.pid")), log $PG_DIR/postgres.log"
fi
[[ $(psql_admin -c "SHOW wal_level") == logical ]] || fail "the PostgreSQL on port $PG_PORT does not run with wal_level=logical"

# ---------------------------------------------------------------------------------------------------------
for region in east west; do
    port=$(redis_port_of "$region")
    pidfile="$STATE/redis-$region.pid"
    say "Redis region $region on 127.0.0.1:$port"
    if alive "$(pid_from "$pidfile")"; then
        echo "already running (PID $(pid_from "$pidfile"))"
        continue
    fi
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
        fail "port $port already has a Redis that this script did not start; set QUICKSTART_REDIS_${region^^}_PORT to a free port"
    fi
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$pidfile" --logfile "$STATE/redis-$region.log" --dir "$STATE" >/dev/null
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || fail "Redis $region did not start; see $STATE/redis-$region.log"
    for _ in $(seq 1 20); do [[ -s $pidfile ]] && break; sleep 0.1; done
    echo "started (PID $(pid_from "$pidfile")), log $STATE/redis-$region.log"
done

# ---------------------------------------------------------------------------------------------------------
say "Demo database $DATABASE (customers, orders, publication $PUBLICATION)"
if [[ $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'") != 1 ]]; then
    psql_admin -c "CREATE DATABASE $DATABASE" || fail "could not create database $DATABASE"
fi
psql_demo -f deploy/demo/schema.sql >/dev/null || fail "deploy/demo/schema.sql failed"
echo "customers: $(psql_demo -c 'SELECT count(*) FROM customers') rows, orders: $(psql_demo -c 'SELECT count(*) FROM orders') rows"

# ---------------------------------------------------------------------------------------------------------
say "Worker (Invalidator:Source=Postgres)"
pid=$(pid_from "$WORKER_PID")
if alive "$pid"; then
    # Rebuilt and restarted, so a re-run picks up code changes; the slot resumes at the last confirmed change.
    kill -TERM "$pid"
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && kill -KILL "$pid"
    echo "stopped the previous worker (PID $pid)"
fi
echo "building (dotnet publish, Release)..."
dotnet publish src/Invalidator.Worker -c Release -o "$WORKER_DIR" --nologo -v quiet >"$STATE/build.log" 2>&1 \
    || fail "the build failed; see $STATE/build.log: $(grep -m3 -E 'error' "$STATE/build.log")"
# The published appsettings.json holds the Kafka example (and a region on localhost:6379): this run uses only its own file.
rm -f "$WORKER_DIR/appsettings.json"

connection="Host=127.0.0.1;Port=$PG_PORT;Database=$DATABASE;Username=postgres"
cat >"$CONFIG" <<JSON
{
  "Logging": {
    "LogLevel": {
      "Default": "Information",
      "Invalidator.Worker.Processing.BatchApplier": "Debug"
    },
    "Console": { "FormatterName": "simple", "FormatterOptions": { "SingleLine": true, "TimestampFormat": "HH:mm:ss.fff " } }
  },
  "Invalidator": {
    "Source": "Postgres",
    "Postgres": { "ConnectionString": "$connection", "Publication": "$PUBLICATION", "Slot": "$SLOT" },
    "Rules": { "Path": "$REPO/deploy/demo/rules.yaml" },
    "Regions": {
      "east": { "Redis": "127.0.0.1:$EAST_PORT" },
      "west": { "Redis": "127.0.0.1:$WEST_PORT" }
    },
    "Batching": { "MaxWait": "00:00:00.010" },
    "Probe": { "Enabled": true },
    "Http": { "Urls": "$HTTP_URL", "StatusUrls": "$STATUS_URL" }
  }
}
JSON

# A stopped worker's replication session ends a moment after its process.
for _ in $(seq 1 100); do
    [[ $(psql_demo -c "SELECT active FROM pg_replication_slots WHERE slot_name = '$SLOT'") == t ]] || break
    sleep 0.1
done
dotnet "$WORKER_DIR/invalidator.dll" rules check deploy/demo/rules.yaml --database "$connection" \
    --publication "$PUBLICATION" --slot "$SLOT" | sed 's/^/  /' || fail "the demo database is not ready for the worker (see above)"

(cd "$STATE" && exec nohup dotnet "$WORKER_DIR/invalidator.dll" run --config "$CONFIG" >"$WORKER_LOG" 2>&1 </dev/null) &
echo $! >"$WORKER_PID"
pid=$(pid_from "$WORKER_PID")
echo "started (PID $pid), log $WORKER_LOG"

ready=0
for _ in $(seq 1 300); do
    alive "$pid" || fail "the worker exited; last lines of $WORKER_LOG:
$(tail -n 15 "$WORKER_LOG")"
    if [[ $(psql_demo -c "SELECT active FROM pg_replication_slots WHERE slot_name = '$SLOT'") == t ]]; then
        ready=1
        break
    fi
    sleep 0.2
done
[[ $ready -eq 1 ]] || fail "the worker did not start streaming within 60 s; see $WORKER_LOG"
echo "streaming from slot $SLOT"

# ---------------------------------------------------------------------------------------------------------
# The demo application: cache-aside reads (GET, on a miss read the row and SET it with a TTL) in both regions.
cache_customer() { # region id
    local port key row email
    port=$(redis_port_of "$1")
    key="customer:$2"
    [[ $(redis-cli -p "$port" exists "$key") == 1 ]] && return
    row=$(psql_demo -c "SELECT row_to_json(c) FROM customers c WHERE id = $2")
    email=$(psql_demo -c "SELECT lower(email) FROM customers WHERE id = $2")
    redis-cli -p "$port" set "$key" "$row" ex 3600 >/dev/null
    redis-cli -p "$port" set "customer:email:$email" "$2" ex 3600 >/dev/null
}
cache_orders() { # region customer-id: the customer's first orders (a demo page), and each of them
    local port rows
    port=$(redis_port_of "$1")
    rows=$(psql_demo -c "SELECT coalesce(json_agg(o ORDER BY id), '[]') FROM (SELECT * FROM orders WHERE customer_id = $2 ORDER BY id LIMIT 5) o")
    redis-cli -p "$port" set "customer:$2:orders" "$rows" ex 3600 >/dev/null
    psql_demo -c "SELECT id FROM orders WHERE customer_id = $2 ORDER BY id LIMIT 5" | while read -r order; do
        redis-cli -p "$port" set "order:$order" "$(psql_demo -c "SELECT row_to_json(o) FROM orders o WHERE id = $order")" ex 3600 >/dev/null
    done
}
# The freshness probe's canaries (invalidator:canary:*) come and go every 5 s: not the demo's keys.
keys_of() { redis-cli -p "$(redis_port_of "$1")" --scan | grep -v '^invalidator:' | sort | tr '\n' ' '; }

say "Demo: cache-aside reads fill both regions"
for region in east west; do
    for id in 1 2 3; do
        cache_customer "$region" "$id"
        cache_orders "$region" "$id"
    done
done
declare -A before
for region in east west; do
    before[$region]=$(keys_of "$region")
    echo "  $region: ${before[$region]}"
done

say "Demo: updates through SQL"
old_email=$(psql_demo -c "SELECT email FROM customers WHERE id = 2")
new_email=$([[ $old_email == bob@example.com ]] && echo robert@example.com || echo bob@example.com)
next_order=$(psql_demo -c "SELECT max(id) + 1 FROM orders")
# Cached keys of the new email too: a reader may have cached a miss for it.
for region in east west; do
    redis-cli -p "$(redis_port_of "$region")" set "customer:email:$new_email" "none" ex 3600 >/dev/null
done
statements=(
    "UPDATE customers SET name = 'Ann ($(date +%T))' WHERE id = 1"
    "UPDATE customers SET email = '$new_email' WHERE id = 2"
    "INSERT INTO orders (id, customer_id, total) VALUES ($next_order, 3, 7.25)"
)
expected=(customer:1 customer:email:ann@example.com customer:2 "customer:email:$old_email" "customer:email:$new_email" customer:3:orders)
kept=(customer:3 customer:email:cy@example.com order:100 order:101 customer:1:orders)
started=$(date +%s%N)
for statement in "${statements[@]}"; do
    echo "  $statement;"
    psql_demo -c "$statement"
done

gone() {
    local region key
    for region in east west; do
        for key in "${expected[@]}"; do
            [[ $(redis-cli -p "$(redis_port_of "$region")" exists "$key") == 0 ]] || return 1
        done
    done
}
for _ in $(seq 1 300); do gone && break; sleep 0.05; done
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
gone || fail "the worker did not delete ${expected[*]} within 15 s; see $WORKER_LOG"

say "Demo: invalidated in both regions within ${elapsed_ms} ms of the first statement"
for region in east west; do
    after=$(keys_of "$region")
    deleted=$(comm -23 <(tr ' ' '\n' <<<"${before[$region]} customer:email:$new_email" | sed '/^$/d' | sort -u) <(tr ' ' '\n' <<<"$after" | sed '/^$/d' | sort -u) | tr '\n' ' ')
    echo "  $region deleted: $deleted"
    echo "  $region kept:    $after"
done
for key in "${kept[@]}"; do
    for region in east west; do
        [[ $(redis-cli -p "$(redis_port_of "$region")" exists "$key") == 1 ]] || fail "$key was deleted in $region although no change touched it"
    done
done
echo "  worker log:"
grep -E 'Applied batch|Streaming publication' "$WORKER_LOG" | tail -n 4 | sed 's/^/    /'

say "Done"
cat <<EOF
  The worker keeps running (PID $pid) and invalidates every change to customers and orders:
    psql -h 127.0.0.1 -p $PG_PORT -U postgres $DATABASE
    redis-cli -p $EAST_PORT --scan         (region east; west is port $WEST_PORT)
  Status page:  $STATUS_URL/   (freshness of both regions from the canary probe; metrics: $HTTP_URL/metrics, /healthz, /readyz)
  Worker log:   $WORKER_LOG
  Config:       $CONFIG  (rules: deploy/demo/rules.yaml)
  Server logs:  $PG_DIR/postgres.log, $STATE/redis-east.log, $STATE/redis-west.log
  Stop all:     scripts/quickstart.sh --stop
EOF
