# Helpers for the e2e scenarios (sourced; bash, run as root in the VM).
set -euo pipefail

# fail MSG: print MSG and end the scenario with exit 1.
fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds or
# SECONDS pass (then fail).
wait_for() {
	local t=$1; shift
	local end=$((SECONDS + t))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || fail "timed out after ${t}s: $*"
		sleep 0.2
	done
}

# save FILE...: keep files in the scenario's output directory on the host.
save() { cp -a "$@" "$E2E_OUT/" 2>/dev/null || true; }
