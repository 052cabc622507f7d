#!/bin/sh
# Regenerates modload/testdata from real Debian kernel packages:
#
#	sh modload/testdata/regen.sh \
#		/root/.cache/gudevd/debs/linux-image-6.1.0-47-amd64-unsigned_6.1.170-3_amd64.deb \
#		/root/.cache/gudevd/debs/linux-image-6.12.117+deb12-amd64-unsigned_6.12.117-1~deb12u1_amd64.deb
#
# It unpacks each package into a temporary directory (never /lib/modules),
# runs depmod there, and records, from the first (6.1, uncompressed modules):
#   - modules.dep: only the lines of modules that the cases below reach,
#   - modules.builtin: a few built-in modules,
#   - show-depends.golden: what kmod's `modprobe --show-depends` prints for
#     each case, which plan_test.go compares the planner's order against;
#     modprobe.d/test.conf supplies options, a softdep and an install
#     command, and plan_test.go reads it as its index's modprobe.d,
#   - modules.dep.gz and show-depends-all.golden.gz: the whole modules.dep
#     and modprobe's order for every module alone, without softdeps,
#   - ko/irqbypass.ko: a small real module,
# and from the second (6.12, xz-compressed modules) 6.12/modules.dep.gz,
# 6.12/show-depends-all.golden.gz and ko/irqbypass.ko.xz.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/empty"

# unpack DEB DIR: extracts a kernel package and runs depmod; prints the
# modules directory.
unpack() {
	dpkg-deb -x "$1" "$2"
	ver=$(ls "$2/lib/modules")
	depmod -b "$2" "$ver"
	echo "$2/lib/modules/$ver"
}

# every_module MODS OUT: modprobe's order for every module alone. -C names
# an empty directory so that the host's modprobe.d stays out, and
# modules.softdep goes (its aliases need modules.alias; softdeps are
# covered by the cases).
every_module() {
	root=${1%/lib/modules/*}
	ver=${1##*/}
	mkdir -p "$2"
	gzip -9n < "$1/modules.dep" > "$2/modules.dep.gz"
	rm -f "$1/modules.softdep"
	sed 's/:.*//; s|.*/||; s/\..*//; s/-/_/g' "$1/modules.dep" | sort -u | while read -r m; do
		echo "== $m"
		modprobe -C "$tmp/empty" -d "$root" -S "$ver" --show-depends "$m" | sed "s|$1/||"
	done | gzip -9n > "$2/show-depends-all.golden.gz"
}

mods=$(unpack "$1" "$tmp/a")
root=$tmp/a
ver=${mods##*/}
cases="kvm_intel aesni_intel e1000 virtio_net ahci usbhid libata unix"
: > "$here/show-depends.golden"
for m in $cases; do
	echo "== $m" >> "$here/show-depends.golden"
	modprobe -C "$here/modprobe.d" -d "$root" -S "$ver" --show-depends "$m" |
		sed "s|$mods/||" >> "$here/show-depends.golden"
done

# Keep the modules.dep lines of every module the cases load, in file order.
# Install commands hide a case's own path from modprobe, so keep the cases'
# own lines too, matched by module name.
grep '^insmod ' "$here/show-depends.golden" | awk '{print $2}' | sort -u > "$tmp/paths"
awk -F: -v cases="$cases" '
	BEGIN { n = split(cases, c, " "); for (i = 1; i <= n; i++) named[c[i]] = 1 }
	NR == FNR { want[$0] = 1; next }
	{ m = $1; sub(/.*\//, "", m); sub(/\..*/, "", m); gsub(/-/, "_", m) }
	($1 in want) || (m in named)' "$tmp/paths" "$mods/modules.dep" > "$here/modules.dep"
grep -E '/(unix|sd_mod|crc32c_generic|ext4)\.ko$' "$mods/modules.builtin" > "$here/modules.builtin" || true
mkdir -p "$here/ko"
cp "$mods/kernel/virt/lib/irqbypass.ko" "$here/ko/"
every_module "$mods" "$here"
echo "kernel $ver from $(basename "$1")" > "$here/SOURCE"

if [ $# -ge 2 ]; then
	mods=$(unpack "$2" "$tmp/b")
	cp "$mods/kernel/virt/lib/irqbypass.ko.xz" "$here/ko/"
	every_module "$mods" "$here/6.12"
	echo "kernel ${mods##*/} from $(basename "$2")" >> "$here/SOURCE"
fi
