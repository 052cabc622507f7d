# Sourced by /init (init.sh) for gudevd.mode=fault-*: the fault scenarios of
# test/qemu/faults.go. Each injects its fault, runs gudevd's coldplug and
# reports like the coldplug scenarios (scenario_end).
echo "gudevd-guest: fault scenario $mode not implemented yet"
