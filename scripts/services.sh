#!/usr/bin/env bash
# services.sh up|tools|status|cluster-up|cluster-down — installs (when missing) and starts the local Redis, Postgres and ClickHouse that
# `make run` and `make test` use, then waits until each answers. Idempotent: a service that already answers is
# left alone, and nothing is ever stopped. `tools` installs what the tests use besides the services
# (docker-compose to validate the compose file, chromium for the dashboard check). Debian/Ubuntu only;
# docker-compose.yml is the way elsewhere. cluster-up starts the scale-out tests' three-primary Redis Cluster
# (ports 7001–7003) and Sentinel set (nodes 7101–7102, sentinels 26401–26403), restarting any node that is
# down as a replica of the current primary; cluster-down stops them: make test starts them before the tests
# and stops them after.
set -euo pipefail

STATE_DIR=${SSOSETUP_SERVICES_DIR:-/tmp/ssosetup-services}
PG_ROLE=ssosetup
PG_PASSWORD=ssosetup
PG_DATABASES="ssosetup ssosetup_test"

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo: packages and services need root"
  SUDO="sudo"
fi

APT_UPDATED=""
apt_install() { # apt_install PACKAGE... — installs only what dpkg does not already have
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand or use docker-compose.yml"
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_for() { # wait_for NAME SECONDS COMMAND...
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    "$@" >/dev/null 2>&1 && { log "$name is up"; return 0; }
    sleep 0.2
  done
  die "$name did not answer within ${secs}s (see $STATE_DIR)"
}

redis_up() {
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    log "redis already running"; return 0
  fi
  apt_install redis-server redis-tools
  if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    log "starting redis"
    # No persistence: Postgres is the source of truth and the product survives Redis losing its data.
    $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
      --pidfile "$STATE_DIR/redis.pid" --logfile "$STATE_DIR/redis.log"
  fi
  wait_for redis 30 sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
}

pg_cluster() { pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1, $2, $4}'; }

postgres_up() {
  apt_install postgresql postgresql-client
  local version name status
  read -r version name status <<<"$(pg_cluster)"
  [ -n "${version:-}" ] || die "no Postgres cluster found (pg_lsclusters is empty); create one with pg_createcluster"
  if [ "$status" != "online" ]; then
    log "starting postgres $version/$name"
    $SUDO pg_ctlcluster "$version" "$name" start
  else
    log "postgres $version/$name already running"
  fi
  wait_for postgres 60 $SUDO su postgres -c "psql -qtAc 'select 1'"
  local psql=($SUDO su postgres -c)
  if [ "$("${psql[@]}" "psql -qtAc \"select 1 from pg_roles where rolname = '$PG_ROLE'\"")" != "1" ]; then
    log "creating role $PG_ROLE"
    "${psql[@]}" "psql -qc \"create role $PG_ROLE login password '$PG_PASSWORD'\""
  fi
  for db in $PG_DATABASES; do
    if [ "$("${psql[@]}" "psql -qtAc \"select 1 from pg_database where datname = '$db'\"")" != "1" ]; then
      log "creating database $db"
      "${psql[@]}" "createdb -O $PG_ROLE $db"
    fi
  done
  wait_for "postgres (as $PG_ROLE over TCP)" 30 \
    env PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -U $PG_ROLE -d ssosetup -qtAc 'select 1'
}

clickhouse_answers() { clickhouse-client --host 127.0.0.1 -q 'select 1' >/dev/null 2>&1; }

clickhouse_up() {
  if command -v clickhouse-client >/dev/null && clickhouse_answers; then
    log "clickhouse already running"; return 0
  fi
  apt_install clickhouse-server clickhouse-client
  if ! clickhouse_answers; then
    log "starting clickhouse"
    local piddir=/var/run/clickhouse-server
    $SUDO mkdir -p "$piddir" /var/log/clickhouse-server
    $SUDO chown clickhouse "$piddir" /var/log/clickhouse-server
    $SUDO su -s /bin/sh clickhouse -c \
      "cd /var/lib/clickhouse && clickhouse-server --config-file=/etc/clickhouse-server/config.xml --daemon --pid-file=$piddir/clickhouse-server.pid"
  fi
  wait_for clickhouse 90 clickhouse_answers
}

GOLANGCI_LINT_VERSION=v2.15.0

# golangci_lint_install builds the pinned golangci-lint from the Go module proxy into $(go env GOPATH)/bin
# (linked into /usr/local/bin) unless that version is already there; nothing is downloaded from elsewhere.
golangci_lint_install() {
  if command -v golangci-lint >/dev/null &&
    golangci-lint version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
    return 0
  fi
  command -v go >/dev/null || die "go not found: install Go 1.26 first"
  log "building golangci-lint $GOLANGCI_LINT_VERSION (a few minutes, once)"
  GOFLAGS= go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
  local bin
  bin="$(go env GOPATH)/bin/golangci-lint"
  [ -w /usr/local/bin ] && ln -sf "$bin" /usr/local/bin/golangci-lint || export PATH="$(go env GOPATH)/bin:$PATH"
}

# The scale-out tests' Redis Cluster: three primaries on ports of their own, without persistence.
CLUSTER_PORTS="7001 7002 7003"

redis_cluster_up() {
  apt_install redis-server redis-tools
  for port in $CLUSTER_PORTS; do
    if ! redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
      mkdir -p "$STATE_DIR/cluster-$port"
      $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --cluster-enabled yes --cluster-config-file "$STATE_DIR/cluster-$port/nodes.conf" --cluster-node-timeout 2000 \
        --dir "$STATE_DIR/cluster-$port" --pidfile "$STATE_DIR/cluster-$port/redis.pid" \
        --logfile "$STATE_DIR/cluster-$port/redis.log"
    fi
    wait_for "redis cluster node $port" 30 sh -c "redis-cli -p $port ping | grep -q PONG"
  done
  if ! redis-cli -p 7001 cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
    log "creating the redis cluster"
    local nodes=()
    for port in $CLUSTER_PORTS; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  fi
  wait_for "redis cluster" 30 sh -c "redis-cli -p 7001 cluster info | grep -q 'cluster_state:ok'"
}

# The scale-out tests' Sentinel set: a primary and a replica, and three sentinels that fail over in seconds.
SENTINEL_NODES="7101 7102"
SENTINEL_PORTS="26401 26402 26403"

# sentinel_master prints the port of the set's current primary, as the sentinels see it ("" if none answers).
sentinel_master() {
  for sp in $SENTINEL_PORTS; do
    local addr
    addr=$(redis-cli -p "$sp" sentinel get-master-addr-by-name ssosetup 2>/dev/null | tail -1)
    [ -n "$addr" ] && { echo "$addr"; return 0; }
  done
  echo ""
}

redis_sentinel_up() {
  local master
  master=$(sentinel_master)
  [ -z "$master" ] && master=7101
  for port in $SENTINEL_NODES; do
    if ! redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
      mkdir -p "$STATE_DIR/sentinel-$port"
      local replicaof=()
      [ "$port" != "$master" ] && replicaof=(--replicaof 127.0.0.1 "$master")
      $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$STATE_DIR/sentinel-$port" --pidfile "$STATE_DIR/sentinel-$port/redis.pid" \
        --logfile "$STATE_DIR/sentinel-$port/redis.log" "${replicaof[@]}"
    fi
    wait_for "redis node $port" 30 sh -c "redis-cli -p $port ping | grep -q PONG"
  done
  for sp in $SENTINEL_PORTS; do
    if ! redis-cli -p "$sp" ping 2>/dev/null | grep -q PONG; then
      mkdir -p "$STATE_DIR/sentinel-s$sp"
      cat > "$STATE_DIR/sentinel-s$sp/sentinel.conf" <<CONF
port $sp
bind 127.0.0.1
daemonize yes
pidfile $STATE_DIR/sentinel-s$sp/sentinel.pid
logfile $STATE_DIR/sentinel-s$sp/sentinel.log
dir $STATE_DIR/sentinel-s$sp
sentinel monitor ssosetup 127.0.0.1 $master 2
sentinel down-after-milliseconds ssosetup 1000
sentinel failover-timeout ssosetup 5000
sentinel parallel-syncs ssosetup 1
CONF
      $SUDO redis-server "$STATE_DIR/sentinel-s$sp/sentinel.conf" --sentinel
    fi
    wait_for "redis sentinel $sp" 30 sh -c "redis-cli -p $sp ping | grep -q PONG"
  done
  wait_for "redis sentinel set" 30 sh -c "redis-cli -p ${SENTINEL_PORTS%% *} sentinel replicas ssosetup | grep -q flags"
}

# stop_pidfile kills the process of a pid file at once (the scale-out nodes keep nothing worth a graceful
# shutdown) and waits until it is gone, so that its port is free for the next start.
stop_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  $SUDO kill -9 "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

redis_sentinel_down() {
  for d in "$STATE_DIR"/sentinel-*; do
    [ -d "$d" ] || continue
    for pid in "$d"/*.pid; do
      stop_pidfile "$pid"
    done
    rm -rf "$d"
  done
  log "redis sentinel set stopped"
}

redis_cluster_down() {
  for port in $CLUSTER_PORTS; do
    stop_pidfile "$STATE_DIR/cluster-$port/redis.pid"
    rm -rf "$STATE_DIR/cluster-$port"
  done
  log "redis cluster stopped"
}

case "${1:-up}" in
  up)
    mkdir -p "$STATE_DIR"; chmod 777 "$STATE_DIR" 2>/dev/null || true
    redis_up
    postgres_up
    clickhouse_up
    ;;
  tools)
    apt_install docker-compose chromium
    golangci_lint_install
    ;;
  cluster-up)
    mkdir -p "$STATE_DIR"; chmod 777 "$STATE_DIR" 2>/dev/null || true
    redis_cluster_up
    redis_sentinel_up
    ;;
  cluster-down)
    redis_cluster_down
    redis_sentinel_down
    ;;
  status)
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && echo "redis: up" || echo "redis: down"
    env PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -U $PG_ROLE -d ssosetup -qtAc 'select 1' >/dev/null 2>&1 \
      && echo "postgres: up" || echo "postgres: down"
    clickhouse_answers && echo "clickhouse: up" || echo "clickhouse: down"
    ;;
  *) echo "usage: $0 up|tools|status|cluster-up|cluster-down" >&2; exit 2 ;;
esac
