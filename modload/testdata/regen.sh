#!/bin/sh
# Regenerates modload/testdata from a real Debian kernel package:
#
#	sh modload/testdata/regen.sh /root/.cache/gudevd/debs/linux-image-6.1.0-47-amd64-unsigned_6.1.170-3_amd64.deb
#
# It unpacks the package into a temporary directory (never /lib/modules), runs
# depmod there, and records for a few real modules:
#   - modules.dep: only the lines of modules that the cases below reach,
#   - modules.builtin: a few built-in modules,
#   - modules.dep.gz: the whole modules.dep,
#   - show-depends.golden: what kmod's `modprobe --show-depends` prints for
#     each case, which plan_test.go compares the planner's order against,
#   - show-depends-all.golden.gz: the same for every module, without softdeps.
# modprobe.d/test.conf supplies options, a softdep and an install command;
# plan_test.go mirrors it as a modalias.Config.
set -eu
deb=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
ver=$(ls "$tmp/lib/modules")
depmod -b "$tmp" "$ver"
mods="$tmp/lib/modules/$ver"

cases="kvm_intel aesni_intel e1000 virtio_net ahci usbhid libata unix"
: > "$here/show-depends.golden"
for m in $cases; do
	echo "== $m" >> "$here/show-depends.golden"
	modprobe -C "$here/modprobe.d" -d "$tmp" -S "$ver" --show-depends "$m" |
		sed "s|$mods/||" >> "$here/show-depends.golden"
done

# Keep the modules.dep lines of every module the cases load, in file order.
grep '^insmod ' "$here/show-depends.golden" | awk '{print $2}' | sort -u > "$tmp/paths"
# Install commands hide a case's own path from modprobe, so keep the cases' own
# lines too, matched by module name.
awk -F: -v cases="$cases" '
	BEGIN { n = split(cases, c, " "); for (i = 1; i <= n; i++) named[c[i]] = 1 }
	NR == FNR { want[$0] = 1; next }
	{ m = $1; sub(/.*\//, "", m); sub(/\..*/, "", m); gsub(/-/, "_", m) }
	($1 in want) || (m in named)' "$tmp/paths" "$mods/modules.dep" > "$here/modules.dep"
grep -E '/(unix|sd_mod|crc32c_generic|ext4)\.ko$' "$mods/modules.builtin" > "$here/modules.builtin" || true
# Every module alone, without modules.softdep (whose aliases need
# modules.alias; softdeps are covered by the cases above): the planner must
# match modprobe's order for all of them.
gzip -9n < "$mods/modules.dep" > "$here/modules.dep.gz"
# -C names an empty directory so that the host's modprobe.d stays out.
rm "$mods/modules.softdep"
mkdir "$tmp/empty"
sed 's/:.*//; s|.*/||; s/\..*//; s/-/_/g' "$mods/modules.dep" | sort -u | while read -r m; do
	echo "== $m"
	modprobe -C "$tmp/empty" -d "$tmp" -S "$ver" --show-depends "$m" | sed "s|$mods/||"
done | gzip -9n > "$here/show-depends-all.golden.gz"
echo "kernel $ver from $(basename "$deb")" > "$here/SOURCE"
