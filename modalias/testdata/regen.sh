#!/bin/bash
# Regenerates the golden data of modalias/conformance_test.go:
#
#     modalias/testdata/regen.sh
#
# Needs apt-get (Debian bookworm sources), dpkg-deb, depmod and modprobe from
# kmod 30, gzip and go. For each kernel below it downloads the Debian image
# package into ${GUDEVD_CACHE:-$HOME/.cache/gudevd}/debs unless already there,
# unpacks it into a temporary directory, runs depmod on it, and writes to
# testdata/VERSION/:
#   modules.{alias,dep,builtin,builtin.modinfo,softdep}.gz  the index files
#   expect.txt.gz  one line per lookup, tab-separated:
#     LOOKUP  RAW  SHOW  SHOWB
#   RAW is what `modprobe -R` prints (libkmod's lookup list, no blacklist),
#   space-separated. SHOW and SHOWB are the module names `modprobe -D` and
#   `modprobe -b -D` would load (plain modprobe, and the -b/udev blacklist),
#   recorded only when RAW contains a module testdata/modprobe.d blacklists,
#   "~" otherwise.
# The lookups come from testdata/genlookups (deterministic) and include
# testdata/guest/*.txt, modaliases captured in QEMU guests.
# modprobe is always given -d, -S and -C testdata/modprobe.d, so nothing of
# this machine's own module tree or configuration is read.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${GUDEVD_CACHE:-$HOME/.cache/gudevd}/debs
kernels=(
	"6.1.0-47-amd64 linux-image-6.1.0-47-amd64-unsigned"
	"6.12.117+deb12-amd64 linux-image-6.12.117+deb12-amd64-unsigned"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

blacklist=$(awk '$1 == "blacklist" { gsub("-", "_", $2); print $2 }' "$here"/modprobe.d/*.conf)

# names prints the module names in modprobe -D output.
names() {
	sed -E -n 's|^insmod ([^ ]*/)?([^/ ]+)\.ko[^ ]*.*|\2|p; s|^builtin ([^ ]+).*|\1|p' |
		tr '-' '_' | paste -sd' '
}

for k in "${kernels[@]}"; do
	read -r ver pkg <<<"$k"
	deb=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		(cd "$cache" && apt-get download "$pkg")
		deb=$(ls "$cache/${pkg}"_*.deb | head -n1)
	fi
	root="$work/$ver"
	echo "unpacking $deb" >&2
	dpkg-deb -x "$deb" "$root"
	depmod -b "$root" "$ver"
	moddir="$root/lib/modules/$ver"
	out="$here/$ver"
	mkdir -p "$out"
	for f in modules.alias modules.dep modules.builtin modules.builtin.modinfo modules.softdep; do
		gzip -9n <"$moddir/$f" >"$out/$f.gz"
	done
	(cd "$repo" && go run ./modalias/testdata/genlookups -dir "$moddir" -guest "$here/guest/*.txt") >"$work/lookups"
	echo "$ver: $(wc -l <"$work/lookups") lookups" >&2
	mp=(env LC_ALL=C modprobe -d "$root" -S "$ver" -C "$here/modprobe.d")
	while IFS= read -r l; do
		raw=$("${mp[@]}" -R -- "$l" 2>/dev/null | paste -sd' ' || true)
		show="~"
		showb="~"
		for m in $raw; do
			if grep -qxF "$m" <<<"$blacklist"; then
				show=$("${mp[@]}" -D -- "$l" 2>/dev/null | names || true)
				showb=$("${mp[@]}" -b -D -- "$l" 2>/dev/null | names || true)
				break
			fi
		done
		printf '%s\t%s\t%s\t%s\n' "$l" "$raw" "$show" "$showb"
	done <"$work/lookups" | gzip -9n >"$out/expect.txt.gz"
	rm -rf "$root"
done
