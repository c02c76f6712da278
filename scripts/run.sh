#!/usr/bin/env bash
# The README's run command. Until `gnomon lab` exists, it shows `gnomon query` against
# a real chronyd: it starts `chronyd -x` (clock control off) on a loopback port with
# `local stratum 8`, measures it, and stops it. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p gnomon-cli
chronyd_bin=/usr/sbin/chronyd
if [ ! -x "$chronyd_bin" ]; then
    echo "chronyd is needed for this demo: run ./scripts/test.sh once (it installs chrony)," >&2
    echo "or: apt-get install chrony" >&2
    exit 3
fi
dir=$(mktemp -d /tmp/gnomon-demo.XXXXXX)
chmod 700 "$dir"
port=${GNOMON_DEMO_PORT:-11123}
cat > "$dir/chrony.conf" <<CONF
port $port
bindaddress 127.0.0.1
local stratum 8
allow 127.0.0.1
pidfile $dir/chronyd.pid
driftfile $dir/drift
bindcmdaddress $dir/chronyd.sock
cmdport 0
user root
CONF
"$chronyd_bin" -x -d -f "$dir/chrony.conf" >"$dir/chronyd.log" 2>&1 &
chronyd_pid=$!
trap 'kill $chronyd_pid 2>/dev/null; wait $chronyd_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -S "$dir/chronyd.sock" ] && break; sleep 0.1; done
echo "chronyd -x is serving local stratum 8 on 127.0.0.1:$port (pid $chronyd_pid)"
echo "\$ gnomon query 127.0.0.1:$port"
./target/release/gnomon query "127.0.0.1:$port" "$@"
