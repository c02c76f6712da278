#!/usr/bin/env bash
# Benchmark of `gnomon fleet`: time to check 1,000 and 10,000 hosts, against loopback
# responders spread over 127.66.x.y addresses and ports (one process, poll(2)), and the
# cost of the seed's sequential ssh loop for comparison (a fake ssh that runs its command
# locally: the process-spawn floor of that loop, without any network or handshake).
#
# Loopback only; every process started here is stopped by its PID; every loop is bounded.
# Usage: bench/fleet.sh [RUNS]   (prints a Markdown table for docs/performance.md)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
[ "$runs" -ge 1 ] && [ "$runs" -le 20 ] || { echo "RUNS must be 1..20" >&2; exit 2; }
cargo build --release -q -p gnomon-cli --bin gnomon --example fleet_responders
gnomon=./target/release/gnomon
responders=./target/release/examples/fleet_responders
work=$(mktemp -d /tmp/gnomon-bench-fleet.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }

echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), gnomon $(git rev-parse --short HEAD 2>/dev/null || echo "(no git)"), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "| hosts | addresses × ports | runs | wall time (s) min / median / max | usable hosts | requests/host |"
echo "| ---: | --- | ---: | --- | ---: | ---: |"
for spec in "1000 10 100" "10000 100 100"; do
    read -r hosts addresses ports <<<"$spec"
    list="$work/hosts-$hosts.txt"
    "$responders" "$addresses" "$ports" 20000 300 "$list" >"$work/ready-$hosts" 2>"$work/responders-$hosts.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -q ready "$work/ready-$hosts" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$work/ready-$hosts" || { echo "responders did not start" >&2; exit 3; }
    times=()
    usable=""
    for _ in $(seq "$runs"); do
        start=$(now)
        "$gnomon" fleet --hosts "$list" --json >"$work/out.json" || true
        end=$(now)
        times+=("$(echo "$end - $start" | bc -l)")
        usable=$(grep -m1 '"hosts_usable"' "$work/out.json" | tr -dc '0-9')
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    min=$(echo "$sorted" | head -1); max=$(echo "$sorted" | tail -1)
    median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
    printf '| %s | %s × %s | %s | %.2f / %.2f / %.2f | %s | 3 |\n' \
        "$hosts" "$addresses" "$ports" "$runs" "$min" "$median" "$max" "$usable"
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
done

# The seed's loop: `while read host; do ssh admin@$host date +%s.%N; date +%s.%N; done`,
# one ssh after another. A fake ssh (a shell script that runs the command here) gives the
# spawn cost alone; real ssh adds a TCP and key exchange per host on top.
mkdir -p "$work/bin"
printf '#!/bin/sh\nshift\nexec "$@"\n' >"$work/bin/ssh"
chmod +x "$work/bin/ssh"
loop_hosts=200
start=$(now)
for i in $(seq "$loop_hosts"); do
    PATH="$work/bin:$PATH" ssh "admin@node-$i" date +%s.%N >/dev/null
    date +%s.%N >/dev/null
done
end=$(now)
per_host=$(echo "($end - $start) / $loop_hosts" | bc -l)
echo
printf 'seed ssh loop, fake ssh (spawn floor): %.2f ms per host over %d hosts → %.1f s for 1,000, %.0f s for 10,000\n' \
    "$(echo "$per_host * 1000" | bc -l)" "$loop_hosts" "$(echo "$per_host * 1000" | bc -l)" "$(echo "$per_host * 10000" | bc -l)"
