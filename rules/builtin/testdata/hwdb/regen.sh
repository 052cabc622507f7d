#!/bin/sh
# Regenerates the hwdb conformance data from Debian bookworm's systemd 252:
#
#	sh rules/builtin/testdata/hwdb/regen.sh     (from the repository root)
#
# It downloads the udev and systemd packages into $HOME/.cache/gudevd/hwdb
# (apt-get download, once) and unpacks them there, then with the unpacked
# systemd-hwdb (a userland tool: it writes only below --root):
#   - compiles small/ (handcrafted .hwdb files in lib/udev/hwdb.d and
#     etc/udev/hwdb.d) into small.bin and records `systemd-hwdb query` of
#     every line of small.lookups in small.expected;
#   - compiles the package's hwdb.d into the cache's full/lib/udev/hwdb.bin
#     (13 MB, not committed) and records the queries of the strings
#     genlookups derives from its patterns plus real-modaliases.txt in
#     full.expected.gz.
# An expected file holds, for each lookup in order, a line "@ LOOKUP" and
# the KEY=VALUE lines systemd-hwdb printed for it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
cache=${GUDEVD_HWDB_CACHE:-$HOME/.cache/gudevd/hwdb}
mkdir -p "$cache"
cd "$cache"
if ! ls udev_252.*_amd64.deb systemd_252.*_amd64.deb >/dev/null 2>&1; then
	apt-get download udev systemd
fi
rm -rf x && mkdir x
for d in udev_252.*_amd64.deb systemd_252.*_amd64.deb; do dpkg-deb -x "$d" x; done
hwdb="$cache/x/bin/systemd-hwdb"
export LD_LIBRARY_PATH="$cache/x/lib/systemd:$cache/x/usr/lib/x86_64-linux-gnu/systemd"
"$hwdb" --version | head -1

# query ROOT < LOOKUPS prints an expected file.
query() {
	grep -v '^#' | while IFS= read -r s; do
		printf '@ %s\n' "$s"
		"$hwdb" query --root "$1" -- "$s"
	done
}

rm -rf small-root && cp -r "$here/small" small-root
"$hwdb" update --strict --root small-root
cp small-root/etc/udev/hwdb.bin "$here/small.bin" && chmod 644 "$here/small.bin"
query small-root < "$here/small.lookups" > "$here/small.expected"

rm -rf full && mkdir -p full/lib/udev && cp -r x/lib/udev/hwdb.d full/lib/udev/
"$hwdb" update --strict --root full --usr
(cd "$repo" && go run ./rules/builtin/testdata/hwdb/genlookups "$cache/full/lib/udev/hwdb.d") > full.lookups
grep -v '^#' "$here/real-modaliases.txt" | awk '!seen[$0]++' >> full.lookups
awk '!seen[$0]++' full.lookups | query full | gzip -9n > "$here/full.expected.gz"
echo "small: $(grep -c '^@' "$here/small.expected") lookups; full: $(zcat "$here/full.expected.gz" | grep -c '^@') lookups"
