#!/usr/bin/env bash
# Build the gnomon Debian package and check it: release binaries, man pages and
# completions generated from the clap definitions (`gnomon generate-docs`), then
# cargo-deb (metadata in crates/daemon/Cargo.toml), then dpkg-deb --info/--contents
# must show the expected relations and files. Installs cargo-deb when missing.
# Output: target/debian/gnomon_VERSION-1_ARCH.deb
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "== installing cargo-deb"
    cargo install --locked --quiet cargo-deb
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
echo "== cargo build --release (gnomond, gnomon)"
cargo build --release --locked --quiet -p gnomon-daemon -p gnomon-cli
rm -rf "$target_dir/release/gnomon-docs"
"$target_dir/release/gnomon" generate-docs "$target_dir/release/gnomon-docs" >/dev/null
echo "== cargo deb"
deb="$(cargo deb -p gnomon-daemon --no-build --locked --strip | tail -n 1)"
echo "$deb"
info="$(dpkg-deb --info "$deb")"
contents="$(dpkg-deb --contents "$deb")"
failed=0
expect() { # expect WHAT TEXT PATTERN
    if ! grep -qE -- "$3" <<<"$2"; then
        echo "MISSING in $1: $3" >&2
        failed=1
    fi
}
expect info "$info" '^ Package: gnomon$'
expect info "$info" '^ Provides: time-daemon$'
for daemon in ntp ntpsec chrony openntpd systemd-timesyncd ntpd-rs; do
    expect info "$info" "^ Conflicts: .*[ ,]$daemon(,|$)"
    expect info "$info" "^ Replaces: .*[ ,]$daemon(,|$)"
done
expect info "$info" 'postinst'
expect info "$info" 'conffiles'
for file in ./usr/sbin/gnomond ./usr/bin/gnomon ./etc/gnomon/gnomon.conf \
    ./usr/lib/systemd/system/gnomond.service \
    ./usr/lib/systemd/system/systemd-timesyncd.service.d/disable-with-gnomon.conf \
    ./usr/share/man/man1/gnomon.1 ./usr/share/man/man1/gnomon-doctor.1 \
    ./usr/share/man/man8/gnomond.8 ./usr/share/bash-completion/completions/gnomon \
    ./usr/share/zsh/vendor-completions/_gnomon ./usr/share/fish/vendor_completions.d/gnomon.fish \
    ./usr/share/doc/gnomon/examples/aws-time-sync.conf \
    ./usr/share/doc/gnomon/examples/kubernetes/gnomond-daemonset.yaml; do
    expect contents "$contents" " $file\$"
done
if [ "$failed" -ne 0 ]; then
    echo "$info"
    echo "$contents"
    exit 1
fi
echo "== $deb: relations and files as expected ($(wc -l <<<"$contents") entries)"
