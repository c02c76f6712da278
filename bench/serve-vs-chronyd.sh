#!/usr/bin/env bash
# Side-by-side serving throughput on loopback: gnomond (one thread, server_threads 1 and
# server_threads 2) against chronyd, each alone in turn, driven by bench/loadgen.
#
# For each server: the highest replies/s whose loss stays below 1% (rate search, xSTEP
# steps of DURATION seconds), and the median/p99 latency at a fixed moderate rate.
# Also the server's CPU time per reply at that rate (utime+stime from /proc), which
# load from other processes disturbs less than the throughput figures.
# Prints a table and the ratios. Clocks are never touched: gnomond -x, chronyd -x.
# Only 127.0.0.1 is used. Every run is bounded (loadgen caps steps and durations;
# the servers are killed by PID on exit, also on failure).
#
# Usage: [ROUNDS=3] [STEP=1.1] bench/serve-vs-chronyd.sh [DURATION_S] [START_RATE] [LATENCY_RATE]
set -euo pipefail

DURATION=${1:-2}
START_RATE=${2:-20000}
LATENCY_RATE=${3:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHRONYD=${CHRONYD:-/usr/sbin/chronyd}
[ -x "$CHRONYD" ] || { echo "chronyd is required (apt-get install chrony)" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p gnomon-daemon -p gnomon-loadgen
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
GNOMOND="$TARGET/release/gnomond"
LOADGEN="$TARGET/release/gnomon-loadgen"

WORK=$(mktemp -d /tmp/gnomon-serve-bench.XXXXXX)
chmod 700 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for_reply() { # port
    for _ in $(seq 1 50); do
        if "$LOADGEN" --server "127.0.0.1:$1" --rate 100 --duration 0.2 --sockets 1 --json 2>/dev/null \
            | grep -q '"replies":[1-9]'; then return 0; fi
        sleep 0.2
    done
    echo "server on port $1 never answered" >&2; return 1
}

start_chronyd() { # port
    mkdir -p "$WORK/chronyd"
    cat > "$WORK/chronyd/chrony.conf" <<CONF
port $1
bindaddress 127.0.0.1
cmdport 0
bindcmdaddress $WORK/chronyd/chronyd.sock
pidfile $WORK/chronyd/chronyd.pid
user root
local stratum 3
allow 127.0.0.1
CONF
    "$CHRONYD" -x -d -f "$WORK/chronyd/chrony.conf" > "$WORK/chronyd/log" 2>&1 &
    PIDS+=($!); SERVER_PID=$!
}

start_gnomond() { # port threads
    local dir="$WORK/gnomond-$2"; mkdir -p "$dir"
    local threads=()
    [ "$2" -gt 0 ] && threads=("server_threads $2")
    "$GNOMOND" -x -4 "port $1" "bindaddress 127.0.0.1" "allow 127.0.0.1" "local stratum 3" \
        "bindcmdaddress $dir/gnomond.sock" "pidfile $dir/gnomond.pid" "${threads[@]}" > "$dir/log" 2>&1 &
    PIDS+=($!); SERVER_PID=$!
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # name port pid -> prints "name best_rps median_us p99_us loss cpu_us_per_reply"
    wait_for_reply "$2"
    local best latency before after
    best=$("$LOADGEN" --server "127.0.0.1:$2" --search --rate "$START_RATE" --step "${STEP:-1.1}" --duration "$DURATION" --json \
        | grep '"best"' || true)
    before=$(cpu_ticks "$3")
    latency=$("$LOADGEN" --server "127.0.0.1:$2" --rate "$LATENCY_RATE" --duration "$DURATION" --json)
    after=$(cpu_ticks "$3")
    python3 - "$1" "$best" "$latency" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
name, best, latency = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ticks, hz = int(sys.argv[4]), int(sys.argv[5])
rps = json.loads(best)["best"]["replies_per_s"] if best else 0.0
cpu_us = ticks / hz * 1e6 / max(latency["replies"], 1)
print(f"{name} {rps:.0f} {latency['median_latency_us']:.1f} {latency['p99_latency_us']:.1f} {latency['loss_percent']:.2f} {cpu_us:.2f}")
PY
}

RESULTS="$WORK/results"
: > "$RESULTS"
# All three run at once (idle servers cost nothing); measurements alternate between
# them for ROUNDS rounds and the median is kept, so load from other processes on the
# machine hits all of them alike.
ROUNDS=${ROUNDS:-3}
declare -A PORT PID
SERVERS=(chronyd gnomond-1 gnomond-w1 gnomond-w2)
for server in "${SERVERS[@]}"; do
    PORT[$server]=$(free_port)
    case $server in
        chronyd) start_chronyd "${PORT[$server]}" ;;
        gnomond-1) start_gnomond "${PORT[$server]}" 0 ;;
        gnomond-w1) start_gnomond "${PORT[$server]}" 1 ;;
        gnomond-w2) start_gnomond "${PORT[$server]}" 2 ;;
    esac
    PID[$server]=$SERVER_PID
done
for round in $(seq 1 "$ROUNDS"); do
    for server in "${SERVERS[@]}"; do
        measure "$server" "${PORT[$server]}" "${PID[$server]}" >> "$RESULTS"
    done
done

python3 - "$RESULTS" "$LATENCY_RATE" <<'PY'
import sys
import statistics
runs = {}
for line in open(sys.argv[1]):
    name, rps, med, p99, loss, cpu = line.split()
    runs.setdefault(name, []).append((float(rps), float(med), float(p99), float(loss), float(cpu)))
rows = {name: tuple(statistics.median(v[i] for v in values) for i in range(5))
        for name, values in runs.items()}
print(f"medians of {len(next(iter(runs.values())))} alternating rounds")
rate = sys.argv[2]
print(f"{'server':<12} {'replies/s (<1% loss)':>21} {'median us @'+rate+'/s':>20} {'p99 us':>9} {'CPU us/reply':>13}")
for name, (rps, med, p99, loss, cpu) in rows.items():
    print(f"{name:<12} {rps:>21.0f} {med:>20.1f} {p99:>9.1f} {cpu:>13.2f}")
c = rows["chronyd"][0] or float("nan")
print(f"ratio gnomond one thread / chronyd        : {rows['gnomond-1'][0] / c:.2f}")
print(f"ratio gnomond server_threads 1 / chronyd : {rows['gnomond-w1'][0] / c:.2f}")
print(f"ratio gnomond server_threads 2 / chronyd : {rows['gnomond-w2'][0] / c:.2f}")
print(f"median latency gnomond one thread / chronyd: {rows['gnomond-1'][1] / rows['chronyd'][1]:.2f}")
print(f"CPU per reply gnomond one thread / chronyd : {rows['gnomond-1'][4] / rows['chronyd'][4]:.2f}")
PY
