#!/usr/bin/env bash
# The README's run command: build everything, then `gnomon lab`, the seed's setup live on
# loopback (upstream gnomond, VPC master, N drifting clients; all `gnomond -x`, so no
# clock is changed and no root is needed). Arguments go to `gnomon lab`
# (e.g. -n 50 --seed 7 --json). Exit status is the lab's: 0 converged.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
exec ./target/release/gnomon lab "$@"
