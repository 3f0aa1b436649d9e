#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (as root):
# auditd (installed without starting it: tests start `auditd -n` themselves
# and stop it by pid), systemd-nspawn + debootstrap for the systemd
# container tests, dbus-daemon for a private bus in the daemon tests,
# prometheus (promtool for the rules, and the server the deploy/ tests start
# on loopback; without recommends, so no node-exporter, and not started),
# qemu + busybox-static + cpio + kmod + xz-utils to build and boot the e2e
# VM (test/e2e), gcc-multilib for the scenarios' i386 test binary, systemd
# (systemd-analyze for the bundled-table checks; PID 1 stays what it is),
# patch (the diff output test), man-db (the docs test renders the generated
# man page with man -l), chromium (the HTML page test renders / headless
# and takes a screenshot) and staticcheck: a privileged or tool-dependent test
# that cannot run under CI=true fails. Idempotent.
# wrk: the HTTP API load test (internal/daemon TestAPIUnderLoad) and, with
# nginx (never started as a service: policy-rc.d), the learn overhead
# benchmark (internal/observe BenchmarkOverhead).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
for pkg in auditd systemd-container debootstrap dbus-daemon prometheus qemu-system-x86 busybox-static cpio kmod xz-utils gcc-multilib systemd patch man-db chromium wrk nginx; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
	apt-get update -qq
	# A policy-rc.d that refuses keeps the packages' daemons from starting:
	# an auditd started here would take the audit pid for good, a prometheus
	# would listen on :9090 and scrape.
	created=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		created=1
	fi
	for try in 1 2; do
		if apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then break; fi
		[[ $try == 2 ]] && { ((created)) && rm -f /usr/sbin/policy-rc.d; exit 1; }
		sleep 2
	done
	((created)) && rm -f /usr/sbin/policy-rc.d
fi

if ! command -v staticcheck >/dev/null && [[ ! -x "$(go env GOPATH)/bin/staticcheck" ]]; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
go mod download
