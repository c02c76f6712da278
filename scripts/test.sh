#!/usr/bin/env bash
# The README's test command: install what the tests need (Debian packages), then run
# every check: rustfmt, clippy with warnings as errors, and the whole test suite.
# .ci/run calls this same script.
#
# Installing chrony (or prometheus) must never start its service: a running chronyd would discipline
# this machine's clock. A policy-rc.d that refuses service starts is put in place for
# the install when none exists, and removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || need_packages+=(chrony)
command -v ntpdig >/dev/null 2>&1 || need_packages+=(ntpsec-ntpdig)
command -v strace >/dev/null 2>&1 || need_packages+=(strace)
# tests/vm/run: qemu (TCG), a busybox-static initramfs, gcc + static glibc for vmtool.
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_packages+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need_packages+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need_packages+=(cpio)
command -v gcc >/dev/null 2>&1 || need_packages+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need_packages+=(libc6-dev)
# crates/clknetsim builds chrony's simulator clknetsim from source: gcc, g++ and make.
command -v g++ >/dev/null 2>&1 || need_packages+=(g++)
command -v make >/dev/null 2>&1 || need_packages+=(make)
# prometheus and promtool: the metrics tests run their own prometheus as a child on a
# loopback port; the package's service is blocked from starting like chrony's.
command -v promtool >/dev/null 2>&1 || need_packages+=(prometheus)
if [ ${#need_packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "== installing ${need_packages[*]} (service start blocked)"
    placed_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod 755 /usr/sbin/policy-rc.d
        placed_policy=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
    [ -z "$placed_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi
if pgrep -x chronyd >/dev/null 2>&1; then
    echo "note: a system chronyd is running; the tests start their own on loopback ports" >&2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# fuzz/ is its own cargo workspace (cargo-fuzz, nightly); building every target here
# keeps them from rotting (docs/security.md, "Fuzzing"). Its Cargo.lock must be current.
echo "== cargo +nightly fuzz build"
rustup run nightly rustc --version >/dev/null 2>&1 \
    || { echo "the fuzz targets need a nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo +nightly metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
cargo +nightly fuzz build
echo "== cargo test"
cargo test --workspace --locked
echo "== Debian package: build it and check its relations and files (docs/deploy.md)"
./scripts/build-deb.sh
echo "== tests/vm: gnomond steering a real kernel clock in a qemu VM (tests/vm/README.md)"
./tests/vm/run
