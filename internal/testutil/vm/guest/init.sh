#!/bin/bash
# The guest side of vm.RunBatch, run as root by the image's e2e.service
# from the 9p share at /mnt/e2e (so changing it rebuilds no image). Runs
# every scenarios/*.sh in name order, each with its own output directory
# out/NAME (log, rc, a timestamped xtrace, and what the scenario saves in
# $E2E_OUT), then saves
# the journal. The machine powers off when this script ends.
E2E=/mnt/e2e
cd "$E2E" || exit 1
set -a
# shellcheck disable=SC1091
[[ -f env ]] && . ./env
set +a
export E2E PATH="$E2E/bin:$PATH"
mkdir -p out
# Boot figures. (This script is part of the boot transaction: systemd is
# "starting" until it ends, so never wait for "running" here.)
systemctl --failed --no-legend --plain >out/failed-units 2>&1
echo "$(cut -d' ' -f1 /proc/uptime) s since the kernel started" >out/boot-time
for s in scenarios/*.sh; do
	[[ -e "$s" ]] || continue
	name=$(basename "$s" .sh)
	mkdir -p "out/$name"
	start=$(date +%s%N)
	# An xtrace with timestamps in out/NAME/trace, apart from the log.
	exec 9>"out/$name/trace"
	E2E_OUT="$E2E/out/$name" BASH_XTRACEFD=9 PS4='+ ${EPOCHREALTIME} ' \
		timeout --kill-after=10 "${E2E_SCENARIO_TIMEOUT:-300}" \
		bash -x "$s" >"out/$name/log" 2>&1 </dev/null
	rc=$?
	exec 9>&-
	end=$(date +%s%N)
	echo "$rc $(((end - start) / 1000000))" >"out/$name/rc"
	echo "e2e: $name: exit $rc in $(((end - start) / 1000000)) ms"
done
journalctl -b --no-pager -o short-monotonic >out/journal.txt 2>&1
sync
