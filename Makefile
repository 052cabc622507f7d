# The two commands a new user runs: `make demo` (the main job) and `make test`
# (every test). Both install what they need themselves: Debian packages here,
# Go modules through the module proxy, kernel packages through the harness
# (cached in $${GUDEVD_CACHE:-~/.cache/gudevd}).
GO ?= go
PACKAGES := qemu-system-x86 busybox-static kmod cpio zstd xz-utils mmdebstrap dracut-core e2fsprogs
TOOLS := qemu-system-x86_64 busybox depmod cpio zstd xz dpkg-deb apt-get mmdebstrap dracut mkfs.ext4

.PHONY: demo test hwdb-cache bench bench-requests bench-helper bench-boot bench-limit bench-faults bench-udev-scale deps build testdata install install-replace-udevd

# build makes the static binary gudevd ships as: no dynamic loader on each of
# the kernel's helper runs (see make bench-helper).
build:
	CGO_ENABLED=0 $(GO) build -o bin/gudevd ./cmd/gudevd

# install puts what an administrator runs next to systemd-udevd (README,
# "Install"): the binary, the unit and modprobe@'s drop-in, the override of
# 80-drivers.rules, and the initramfs-tools and dracut pieces. DESTDIR
# stages it into another root; the absolute /usr/sbin/gudevd in the shipped
# files becomes $(SBINDIR)/gudevd.
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INITRAMFSDIR ?= $(PREFIX)/share/initramfs-tools
DRACUTDIR ?= $(PREFIX)/lib/dracut/modules.d/90gudevd
# In the recipe, ship MODE SRC DST installs SRC as DST with the sbin path
# substituted.
install: build
	install -D -m 0755 bin/gudevd $(DESTDIR)$(SBINDIR)/gudevd
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	ship() { sed 's|/usr/sbin/gudevd|$(SBINDIR)/gudevd|g' "$$2" > "$$tmp/f"; install -D -m "$$1" "$$tmp/f" "$(DESTDIR)$$3"; echo "install $$3"; }; \
	ship 0644 dist/systemd/gudevd.service $(UNITDIR)/gudevd.service; \
	ship 0644 dist/systemd/modprobe@.service.d/gudevd.conf $(UNITDIR)/modprobe@.service.d/gudevd.conf; \
	ship 0644 rules/udev/80-drivers.rules $(SYSCONFDIR)/udev/rules.d/80-drivers.rules; \
	for f in hooks/gudevd scripts/init-top/gudevd scripts/init-bottom/gudevd; do \
		ship 0755 dist/initramfs-tools/$$f $(INITRAMFSDIR)/$$f; \
	done; \
	for f in module-setup.sh gudevd-start.sh gudevd-stop.sh; do \
		ship 0755 dist/dracut/90gudevd/$$f $(DRACUTDIR)/$$f; \
	done; \
	ship 0644 dist/dracut/90gudevd/initrd-udevadm-cleanup-db.conf $(DRACUTDIR)/initrd-udevadm-cleanup-db.conf

# install-replace-udevd is install plus the drop-in that makes Debian's
# systemd-udevd.service run `gudevd daemon --udev` (README, "Replacing
# systemd-udevd"): then `systemctl disable gudevd.service` (two daemons
# would both claim /run/gudevd/control), `systemctl daemon-reload` and
# `systemctl restart systemd-udevd`. The initramfs keeps running udevd
# beside gudevd, as install sets it up.
install-replace-udevd: install
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	sed 's|/usr/sbin/gudevd|$(SBINDIR)/gudevd|g' dist/systemd/replace-udevd/systemd-udevd.service.d/gudevd.conf > "$$tmp/f"; \
	install -D -m 0644 "$$tmp/f" "$(DESTDIR)$(SYSCONFDIR)/systemd/system/systemd-udevd.service.d/gudevd.conf"; \
	echo "install $(SYSCONFDIR)/systemd/system/systemd-udevd.service.d/gudevd.conf"

# deps installs the Debian packages the QEMU harness needs, once.
deps:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing $(PACKAGES) (missing:$$missing)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PACKAGES); \
	fi

# test runs every package's tests, the modprobe conformance tests and the
# small QEMU proofs (6.1 at 8 vCPUs, systemd-udevd and gudevd; the request
# storm at 4 vCPUs, kmod modprobe and gudevd as the kernel's helper; the full
# Debian boot at 4 vCPUs, stock, alongside and instead; the
# oracle and gudevd at 4 vCPUs with their timelines and memory; every fault
# scenario at 4 vCPUs), which fail rather than skip when a tool is missing.
test: deps hwdb-cache
	$(GO) vet ./...
	GUDEVD_REQUIRE_QEMU=1 $(GO) test -race -count=1 -timeout 60m ./...

# hwdb-cache compiles bookworm's whole hwdb.bin with its own systemd-hwdb
# into $HOME/.cache/gudevd/hwdb (rules/builtin/testdata/hwdb/regen.sh, which
# also refreshes the hwdb conformance data from systemd-hwdb's answers):
# the hwdb builtin's tests compare against it.
hwdb-cache:
	@test -f $(HOME)/.cache/gudevd/hwdb/full/lib/udev/hwdb.bin || sh rules/builtin/testdata/hwdb/regen.sh

# demo boots Debian's 6.1 kernel at 16 vCPUs under systemd-udevd and under
# gudevd and prints the side-by-side table.
demo: deps
	$(GO) run ./test/qemu/cmd/qemu-harness demo

# bench runs both kernels at 4, 16, 32 and 64 vCPUs for every scenario and
# writes test/qemu/results/bench.md and bench.svg (runs/ keeps each run, so
# an interrupted bench resumes). Hours on two host cores.
bench: deps
	$(GO) run ./test/qemu/cmd/qemu-harness bench -out test/qemu/results

# bench-limit measures where a coldplug's time and memory go: the oracle
# (the known module set loaded in dependency order by a static loader, no
# uevents: the floor), systemd-udevd and gudevd, on both kernels at 4 and 16
# vCPUs, with every load's start and end from tracefs and the guest's
# vmalloc and PSS sampled; it writes test/qemu/results/limit.md and one
# limit-KERNEL-NNN.svg timeline per kernel and vCPU count (runs/ keeps each
# run's trace, so -report-only recomputes). LIMIT_FLAGS adds harness flags,
# e.g. LIMIT_FLAGS='-cpu-list 64' or -scenarios with policy variants.
bench-limit: deps
	$(GO) run ./test/qemu/cmd/qemu-harness bench -limit -out test/qemu/results $(LIMIT_FLAGS)

# bench-faults runs every fault scenario (killed workers, ENOBUFS, broken
# modules, the daemon killed and restarted, forged messages) on both
# kernels at 4 vCPUs and writes test/qemu/results/faults.md.
bench-faults: deps
	$(GO) run ./test/qemu/cmd/qemu-harness faults -out test/qemu/results $(FAULTS_FLAGS)

# bench-requests runs the kernel's own module requests: one process per
# vCPU makes the kernel request the same modules at once, with kmod's
# modprobe and with gudevd as the kernel's helper, on both kernels at 4, 16
# and 64 vCPUs; it writes test/qemu/results/requests.md (runs/ keeps each
# run and its guest files, so an interrupted bench resumes).
bench-requests: deps
	$(GO) run ./test/qemu/cmd/qemu-harness bench -requests -out test/qemu/results

# testdata refreshes what the unit tests read from QEMU guests; see also
# modalias/testdata/regen.sh and modload/testdata/regen.sh.
testdata: deps
	$(GO) run ./test/qemu/cmd/qemu-harness capture

# bench-helper times one execution of the kernel's modprobe helper, kmod's
# and gudevd's, with and without a daemon, on Debian's 6.1 module tree
# (unpacked and depmod'ed under the cache; nothing is loaded on the host).
HELPER_KVER := 6.1.0-47-amd64
HELPER_TREE := $${GUDEVD_CACHE:-$$HOME/.cache/gudevd}/helper-tree
bench-helper: deps
	@tree=$(HELPER_TREE); if [ ! -f $$tree/lib/modules/$(HELPER_KVER)/modules.alias.bin ]; then \
		set -e; mkdir -p $$tree; cd $$tree; \
		apt-get download linux-image-$(HELPER_KVER)-unsigned >/dev/null; \
		dpkg-deb -x linux-image-$(HELPER_KVER)-unsigned_*.deb .; rm -f linux-image-*.deb; \
		depmod -b $$tree $(HELPER_KVER); \
	fi
	GUDEVD_BENCH_TREE=$(HELPER_TREE) GUDEVD_BENCH_KVER=$(HELPER_KVER) \
		$(GO) test -run '^$$' -bench Helper -benchtime 200x -count 3 ./cmd/gudevd/internal/daemon

# bench-udev-scale boots the full-boot image under systemd-udevd and under
# gudevd as systemd-udevd.service (the boot diff's configurations), 6.12 at
# 4 vCPUs, twice each and interleaved, timing each daemon on 1000 null_blk
# disks, 1000 dummy interfaces and 200 scsi_debug disks made after the
# coldplug and on replays of the coldplug, into bench-results/udev-scale
# (kept, so an interrupted bench resumes); README "Scale" has the findings.
# 15-20 minutes a boot on two host cores. UDEV_SCALE_FLAGS adds flags, e.g.
# -kernel 6.1 or -scenarios scsi=0,reps=1.
bench-udev-scale: deps
	$(GO) run ./test/qemu/cmd/qemu-harness udev-scale -out bench-results/udev-scale $(UDEV_SCALE_FLAGS)

# bench-boot boots Debian bookworm with systemd three ways: stock, with gudevd
# installed alongside as README's "Install" says (make install, systemctl enable
# gudevd.service, update-initramfs) and instead of systemd-udevd (make
# install-replace-udevd, systemctl disable gudevd.service, update-initramfs), with both kernels at 4, 16 and 64 vCPUs,
# and writes test/qemu/results/boot.md and boot.svg (runs/ keeps each boot's
# files, so an interrupted bench resumes). An hour or more on two host cores.
bench-boot: deps
	$(GO) run ./test/qemu/cmd/qemu-harness boot-bench -out test/qemu/results
