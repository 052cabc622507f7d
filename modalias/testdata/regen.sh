#!/bin/bash
# Regenerates the golden data of modalias/conformance_test.go:
#
#     modalias/testdata/regen.sh [synthetic]
#
# Needs root (for unshare and mount), apt-get (Debian bookworm sources),
# dpkg-deb, depmod and modprobe from kmod 30, gzip and go. For each kernel below it downloads the Debian image
# package into ${GUDEVD_CACHE:-$HOME/.cache/gudevd}/debs unless already there,
# unpacks it into a temporary directory, runs depmod on it, and writes to
# testdata/VERSION/:
#   modules.{alias,dep,builtin,builtin.modinfo,softdep,symbols}.gz  the index files
#     (for the synthetic tree also depmod's five .bin indexes)
#   config.txt.gz  what `modprobe -c` prints before it dumps the indexes:
#     the merged modprobe.d, modules.softdep and kernel command line
#   expect.txt.gz  one line per lookup, tab-separated:
#     LOOKUP  RAW  SHOW  SHOWB
#   RAW is what `modprobe -R` prints (libkmod's lookup list, no blacklist),
#   space-separated. SHOW and SHOWB are the module names `modprobe -D` and
#   `modprobe -b -D` would load (plain modprobe, and the -b/udev blacklist),
#   recorded only when RAW contains a module testdata/modprobe.d blacklists,
#   "~" otherwise.
# The lookups come from testdata/genlookups (deterministic) and include
# testdata/guest/*.txt, modaliases captured in QEMU guests.
# With "synthetic" only testdata/0.0.0-synthetic (see synth below) is rebuilt.
# modprobe is always given -d, -S and -C testdata/modprobe.d, and sees
# testdata/cmdline.txt as /proc/cmdline, so nothing of this machine's own
# module tree, configuration or command line is read.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${GUDEVD_CACHE:-$HOME/.cache/gudevd}/debs
kernels=(
	"6.1.0-47-amd64 linux-image-6.1.0-47-amd64-unsigned"
	"6.12.117+deb12-amd64 linux-image-6.12.117+deb12-amd64-unsigned"
)

# modprobe reads the kernel command line from /proc/cmdline: show it
# testdata/cmdline.txt instead, in a private mount namespace (needs root).
if [ -z "${GUDEVD_REGEN_NS:-}" ]; then
	exec env GUDEVD_REGEN_NS=1 unshare --mount --propagation private "$0" "$@"
fi
mount --bind "$here/cmdline.txt" /proc/cmdline

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

# Lookups that find one of these get modprobe -D and -b -D recorded.
blacklist=$({
	awk '$1 == "blacklist" { print $2 }' "$here"/modprobe.d/*.conf
	grep -o 'modprobe\.blacklist=[^ ]*' "$here/cmdline.txt" | cut -d= -f2 | tr ',' '\n'
} | tr '-' '_')

# names prints the module names in modprobe -D output.
names() {
	sed -E -n 's|^insmod ([^ ]*/)?([^/ ]+)\.ko[^ ]*.*|\2|p; s|^builtin ([^ ]+).*|\1|p' |
		tr '-' '_' | paste -sd' '
}

# lookup writes expect.txt.gz for the lookups on stdin against module tree
# $1 (the root given to modprobe -d) and version $2, into directory $3.
lookup() {
	local root=$1 ver=$2 out=$3
	local mp=(env LC_ALL=C modprobe -d "$root" -S "$ver" -C "$here/modprobe.d")
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
	done | gzip -9n >"$out/expect.txt.gz"
	"${mp[@]}" -c 2>/dev/null | sed '/^# End of configuration files/,$d' | gzip -9n >"$out/config.txt.gz"
}

# A made-up kernel with only builtin modules: depmod turns its
# modules.builtin.modinfo into modules.builtin.alias.bin, whose lookups
# show libkmod's match order among many wildcard aliases of priority 0.
synth() {
	local ver=0.0.0-synthetic root="$work/synthetic" out="$here/0.0.0-synthetic"
	local moddir="$root/lib/modules/$ver"
	mkdir -p "$moddir/kernel" "$out"
	local mods=(alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma upsilon)
	printf 'kernel/synthetic/%s.ko\n' "${mods[@]}" >"$moddir/modules.builtin"
	: >"$moddir/modules.order"
	printf '%s\0' alpha.alias='gx:a*' beta.alias='gx:a?c' gamma.alias='gx:[a-z]bc' delta.alias='gx:abc' \
		epsilon.alias='gx:ab*' zeta.alias='gx:*' eta.alias='gx:abc' alpha.alias='gx:abc' \
		theta.alias='gx:a\*c' iota.alias='gx:a\bc*' kappa.alias='gx:ab[!x]' lambda.alias='gx:a-b*' \
		mu.alias='gx:ab]' nu.alias='gx:?bc' xi.alias='gx:*c' omicron.alias='gx:a*c' pi.alias='gx:a*bc*' \
		rho.alias='gx:a[b]c' sigma.alias='gx:a[b-]*' alpha.alias='gx:abc' alpha.description=synthetic \
		sigma.alias='plain-name' upsilon.alias='gx:*\' >"$moddir/modules.builtin.modinfo"
	depmod -b "$root" "$ver"
	# The .bin files too (a few KiB): binindex_test.go checks its writer
	# against depmod's on them.
	for f in modules.alias modules.dep modules.builtin modules.builtin.modinfo modules.softdep \
		modules.alias.bin modules.dep.bin modules.symbols.bin modules.builtin.bin modules.builtin.alias.bin; do
		gzip -9n <"$moddir/$f" >"$out/$f.gz"
	done
	printf '%s\n' "${mods[@]}" 'gx:abc' 'gx:a' 'gx:ab' 'gx:abcd' 'gx:a*c' 'gx:a\bc' 'gx:a\bcd' 'gx:a-b' \
		'gx:a_bz' 'gx:zbc' 'gx:xbc' 'gx:abx' 'gx:aby' 'gx:c' 'gx:ac' 'gx:a-c' 'gx:ab-' 'gx:ab_' 'gx:ab]' \
		'gx:' 'gx:bc' 'gx:aabc' 'gx:abbc' 'gx:a[b]c' 'plain-name' 'plain_name' 'gx:*\' 'gx:*\c' 'gx:*' |
		lookup "$root" "$ver" "$out"
}
synth
[ "${1:-}" = synthetic ] && exit 0

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
	for f in modules.alias modules.dep modules.builtin modules.builtin.modinfo modules.softdep modules.symbols; do
		gzip -9n <"$moddir/$f" >"$out/$f.gz"
	done
	(cd "$repo" && go run ./modalias/testdata/genlookups -dir "$moddir" -guest "$here/guest/*.txt") >"$work/lookups"
	echo "$ver: $(wc -l <"$work/lookups") lookups" >&2
	lookup "$root" "$ver" "$out" <"$work/lookups"
	rm -rf "$root"
done
