# internal/units' /proc tests on a legacy host (cgroup v1 only, no cgroup2
# mounted; systemd.unified_cgroup_hierarchy=0
# systemd.legacy_systemd_cgroup_controller=1), where a unit is found in
# the name=systemd hierarchy. The eBPF tests need cgroup2 by design and are
# not run. CI=true: a test that cannot run here fails instead of skipping.
. "$E2E/lib.sh"

[[ -e /sys/fs/cgroup/systemd/cgroup.procs && ! -e /sys/fs/cgroup/unified && ! -e /sys/fs/cgroup/cgroup.controllers ]] ||
	fail "not a legacy cgroup v1 host: $(ls /sys/fs/cgroup | tr '\n' ' ')"
cd "$E2E_OUT"
set +e
CI=true "$E2E/bin/units.test" -test.count=1 -test.v -test.run '^(TestProcFallback|TestUnitProcesses)$' >units.log 2>&1
rc=$?
set -e
grep -E '^(--- |ok|FAIL|PASS)' units.log || true
grep -q -- '--- SKIP' units.log && fail "a test skipped"
exit $rc
