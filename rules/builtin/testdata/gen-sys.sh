#!/bin/sh
# gen-sys.sh regenerates sys.tar.gz, the sysfs fixture of the builtins'
# tests: systemd's own captured real-machine sysfs tree, the one its udev
# tests use (test/sys-script.py of systemd 252, a python3 script that
# recreates the tree under a directory), packed whole and reproducibly
# (sorted names, fixed owner and mtime, gzip without a name or time).
#
#   rules/builtin/testdata/gen-sys.sh [path/to/systemd-source]
#
# The source defaults to /work/ref/systemd-252.39. Needs python3, GNU tar
# and gzip.
set -eu
src=${1:-/work/ref/systemd-252.39}
out=$(cd "$(dirname "$0")" && pwd)/sys.tar.gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$src/test/sys-script.py" "$tmp"
tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime=@0 --format=gnu -cf - sys | gzip -9n >"$out"
ls -l "$out"
