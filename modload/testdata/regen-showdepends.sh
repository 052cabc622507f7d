#!/bin/bash
# Regenerates modload/testdata/showdepends/, the golden data of the
# `gudevd modprobe --show-depends` conformance tests (modload's
# TestShowDependsMatchesModprobe and cmd/gudevd's TestModprobeMatchesKmod):
#
#     modload/testdata/regen-showdepends.sh
#
# Needs root (unshare and mount), apt-get (Debian bookworm sources),
# dpkg-deb, and depmod and modprobe from Debian's kmod 30. For each kernel
# below it takes the image package from ${GUDEVD_CACHE:-$HOME/.cache/gudevd}/debs
# (downloading it there if missing), unpacks it into a temporary directory,
# runs depmod there and asks modprobe, which never loads anything with -D,
# and with -n only reads /sys/module:
#
#   - `modprobe -C showdepends/modprobe.d [-b] -D LOOKUP` for every LOOKUP
#     whose answer the configuration changes: each module of the tree
#     (modules.dep and modules.builtin) whose -D output with that
#     configuration, or with -b, differs from its output with an empty
#     one, each module named in the tree's modules.softdep, every word of
#     the configuration (alias patterns, the names of options, blacklist,
#     softdep, install and remove lines, alias and softdep targets) and
#     showdepends/lookups.txt;
#   - every invocation of showdepends/cases.txt (shell words: parameters,
#     -a, -q, -n, --first-time, long options).
#
# modprobe is always given -d ROOT -S VERSION and -C showdepends/modprobe.d,
# sees showdepends/cmdline.txt as /proc/cmdline (bind-mounted in a private
# mount namespace), and runs with MODPROBE_OPTIONS unset, so nothing of this
# machine's module tree, configuration or command line is read; only -n
# reads this machine's /sys/module, whose live modules go to
# showdepends/live.txt for the tests' model of the kernel.
#
# Output: showdepends/VERSION.golden.gz, one section per invocation:
#   == ARG<TAB>ARG...   the arguments after "-d ROOT -S VERSION -C CONF"
#   1 LINE              a line of stdout, verbatim (trailing blanks kept)
#   2 LINE              a line of stderr
#   rc N                the exit status
# with the unpacked tree's root written as /ROOT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)/showdepends
cache=${GUDEVD_CACHE:-$HOME/.cache/gudevd}/debs
kernels=(
	"6.1.0-47-amd64 linux-image-6.1.0-47-amd64-unsigned"
	"6.12.117+deb12-amd64 linux-image-6.12.117+deb12-amd64-unsigned"
)

if [ -z "${GUDEVD_REGEN_NS:-}" ]; then
	exec env GUDEVD_REGEN_NS=1 unshare --mount --propagation private "$0" "$@"
fi
mount --bind "$here/cmdline.txt" /proc/cmdline
unset MODPROBE_OPTIONS
export LC_ALL=C

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache" "$work/empty"

# record ROOT VERSION CONF ARGS...: one section of the golden file.
record() {
	local root=$1 ver=$2 conf=$3
	shift 3
	local rc=0
	modprobe -d "$root" -S "$ver" -C "$conf" "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?
	(
		IFS=$'\t'
		printf '== %s\n' "$*"
	)
	sed "s|$root/|/ROOT/|g; s/^/1 /" "$work/stdout"
	sed "s|$root/|/ROOT/|g; s/^/2 /" "$work/stderr"
	printf 'rc %d\n' "$rc"
}

# show ROOT VERSION CONF LOOKUP: what -D prints, for choosing lookups.
show() {
	modprobe -d "$1" -S "$2" -C "$3" "${@:5}" -D -- "$4" 2>&1 || true
}

# words prints every name the configuration mentions.
words() {
	cat "$here"/modprobe.d/*.conf | awk '
		$1 ~ /^(alias|options|blacklist|softdep|install|remove)$/ { print $2 }
		$1 == "alias" { print $3 }
		$1 == "softdep" { for (i = 3; i <= NF; i++) if ($i != "pre:" && $i != "post:") print $i }'
}

for f in /sys/module/*/initstate; do
	[ -f "$f" ] && [ "$(cat "$f")" = live ] && basename "$(dirname "$f")"
done | sort >"$here/live.txt" || true

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
	mods="$root/lib/modules/$ver"
	conf="$here/modprobe.d"
	{
		sed 's/:.*//' "$mods/modules.dep"
		cat "$mods/modules.builtin"
	} | sed 's|.*/||; s/\..*//; s/-/_/g' | sort -u >"$work/names"
	: >"$work/lookups"
	while read -r m; do
		base=$(show "$root" "$ver" "$work/empty" "$m")
		if [ "$(show "$root" "$ver" "$conf" "$m")" != "$base" ] ||
			[ "$(show "$root" "$ver" "$conf" "$m" -b)" != "$base" ]; then
			echo "$m" >>"$work/lookups"
		fi
	done <"$work/names"
	awk '$1 == "softdep" { print $2 }' "$mods/modules.softdep" >>"$work/lookups"
	words >>"$work/lookups"
	cat "$here/lookups.txt" >>"$work/lookups"
	sort -u "$work/lookups" -o "$work/lookups"
	echo "$ver: $(wc -l <"$work/lookups") lookups" >&2
	{
		while IFS= read -r l; do
			record "$root" "$ver" "$conf" -D -- "$l"
			record "$root" "$ver" "$conf" -b -D -- "$l"
		done <"$work/lookups"
		while IFS= read -r c; do
			eval "set -- $c"
			record "$root" "$ver" "$conf" "$@"
		done <"$here/cases.txt"
	} | gzip -9n >"$here/$ver.golden.gz"
	rm -rf "$root"
done
