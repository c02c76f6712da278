#!/usr/bin/env bash
# Idle cost of the NTP client, side by side: gnomond -x and chronyd -x, each a client
# of the same 4 loopback servers (one upstream chronyd, `local stratum 1`, reached at
# 127.0.0.1-4), default polling. Reports resident memory (VmRSS) and wakeups per
# minute (voluntary + involuntary context switches over the window), and the ratios.
# Loopback only, clock control off everywhere, bounded in time; processes are
# stopped by PID at exit.
#
# Usage: bench/client-idle.sh [SETTLE_S] [WINDOW_S]     (defaults 30 and 120)
set -euo pipefail
cd "$(dirname "$0")/.."
settle_s=${1:-30}
window_s=${2:-120}
cargo build --release -q -p gnomon-daemon
dir=$(mktemp -d /tmp/gnomon-bench-client.XXXXXX)
chmod 700 "$dir"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -m 700 "$dir/upstream" "$dir/chronyd"
cat > "$dir/upstream/chrony.conf" <<CONF
port $port
local stratum 1
allow 127.0.0.0/8
pidfile $dir/upstream/pid
driftfile $dir/upstream/drift
bindcmdaddress $dir/upstream/sock
cmdport 0
user root
CONF
/usr/sbin/chronyd -x -d -f "$dir/upstream/chrony.conf" >"$dir/upstream/log" 2>&1 &
pids+=($!)

servers=""
for i in 1 2 3 4; do servers+="server 127.0.0.$i port $port iburst"$'\n'; done
cat > "$dir/chronyd/chrony.conf" <<CONF
${servers}port 0
pidfile $dir/chronyd/pid
driftfile $dir/chronyd/drift
bindcmdaddress $dir/chronyd/sock
cmdport 0
user root
CONF
/usr/sbin/chronyd -x -d -f "$dir/chronyd/chrony.conf" >"$dir/chronyd/log" 2>&1 &
chronyd_pid=$!
pids+=($chronyd_pid)

gnomond_args=()
for i in 1 2 3 4; do gnomond_args+=("server 127.0.0.$i port $port iburst"); done
./target/release/gnomond -x -L 1 "${gnomond_args[@]}" "port 0" "bindcmdaddress $dir/gnomond.sock" "pidfile $dir/gnomond.pid" 2>"$dir/gnomond.log" &
gnomond_pid=$!
pids+=($gnomond_pid)

echo "settling ${settle_s}s, then measuring ${window_s}s (upstream port $port)"
sleep "$settle_s"
switches() { awk '/ctxt_switches/ {n += $2} END {print n}' "/proc/$1/status"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
g0=$(switches $gnomond_pid); c0=$(switches $chronyd_pid)
sleep "$window_s"
g1=$(switches $gnomond_pid); c1=$(switches $chronyd_pid)
g_rss=$(rss_kib $gnomond_pid); c_rss=$(rss_kib $chronyd_pid)
python3 - "$g_rss" "$c_rss" "$((g1 - g0))" "$((c1 - c0))" "$window_s" <<'PY'
import sys
g_rss, c_rss, g_sw, c_sw, window = map(float, sys.argv[1:])
per_min = lambda n: n * 60.0 / window
print(f"{'':10} {'RSS KiB':>8} {'wakeups/min':>12}")
print(f"{'gnomond':10} {g_rss:8.0f} {per_min(g_sw):12.1f}")
print(f"{'chronyd':10} {c_rss:8.0f} {per_min(c_sw):12.1f}")
print(f"ratio gnomond/chronyd: RSS {g_rss / c_rss:.2f}, wakeups {per_min(g_sw) / max(per_min(c_sw), 0.01):.2f}")
PY
