#!/bin/sh
# bench/replay.sh: `seccompwatch replay --output jsonl` against
# `ausearch -m SECCOMP -i` and against the scan floor `grep -c SECCOMP`, on
# the same generated audit.log, for both shapes of bench/genlog:
#   events      SYSCALL/CWD/PATH/PROCTITLE events beside SECCOMP (a host
#               with audit rules);
#   standalone  one-line ENRICHED records (USER_*, CRED_*, SERVICE_*,
#               ANOM_ABEND) beside SECCOMP (a host without audit rules).
# Goals (issue 15): replay >= 20x faster than ausearch on both; within 3x
# of grep (moonshot).
#
# Every figure is a ratio measured in this one run. The machine is shared
# and loaded: wall times are noisy (other jobs take the CPU), CPU times
# (user+sys from getrusage, via /usr/bin/time) much less so, so the ratios
# are given for both; replay and grep run RUNS times and the fastest run
# counts (noise only ever adds time); ausearch, 10-100x slower, runs once.
# Replay runs as users run it: default --systemd.table=auto (a
# systemd-analyze child), default --root=/ (the host's unit files read for
# exe attribution), start-up included.
#
# Usage: bench/replay.sh [LINES]   (default 1000000; RUNS=3)
# Needs ausearch (auditd) and /usr/bin/time. To install auditd without
# starting it:
#   apt-get update && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d &&
#   chmod +x /usr/sbin/policy-rc.d && apt-get install -y auditd time; rm /usr/sbin/policy-rc.d
set -eu
lines=${1:-1000000}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

for tool in ausearch /usr/bin/time bc; do
	command -v "$tool" >/dev/null 2>&1 || { echo "$tool not installed (see the header of $0)" >&2; exit 1; }
done
cd "$root"
go build -o "$work/seccompwatch" ./cmd/seccompwatch
go build -o "$work/genlog" ./bench/genlog

# measure CMD...: prints "WALL CPU" (seconds) of one run. Output goes to a
# file: GNU grep stops at the first match when it writes to /dev/null.
# A command exiting 1 (grep, ausearch: nothing matched) still counts.
measure() {
	/usr/bin/time -o "$work/t" -f '%e %U %S' "$@" >"$work/out" 2>"$work/err" || [ $? -eq 1 ] || { cat "$work/err" >&2; exit 1; }
	awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$work/t"
}

# best RUNS CMD...: the fastest wall and the lowest CPU over RUNS runs.
best() {
	n=$1; shift
	for _ in $(seq "$n"); do measure "$@"; done | awk 'NR == 1 || $1 < w {w = $1} NR == 1 || $2 < c {c = $2} END {printf "%.3f %.3f\n", w, c}'
}

ratio() { echo "scale=1; $1 / $2" | bc; }

printf '%-11s %-24s %9s %9s   %s\n' shape command wall_s cpu_s 'ratios (wall / cpu)'
for shape in events standalone; do
	log="$work/$shape.log"
	"$work/genlog" -shape "$shape" -n "$lines" -o "$log"
	echo "# $shape: $(wc -l <"$log") lines, $(grep -c '^type=SECCOMP' "$log") SECCOMP, $(du -h "$log" | cut -f1)"
	set -- $(best "$runs" grep -c SECCOMP "$log"); gw=$1 gc=$2
	set -- $(best "$runs" "$work/seccompwatch" replay --output jsonl "$log"); sw=$1 sc=$2
	set -- $(measure ausearch -m SECCOMP -i --input "$log"); aw=$1 ac=$2
	printf '%-11s %-24s %9s %9s\n' "$shape" 'grep -c SECCOMP' "$gw" "$gc"
	printf '%-11s %-24s %9s %9s   %sx / %sx grep (goal <= 3x)\n' "$shape" 'seccompwatch replay' "$sw" "$sc" \
		"$(ratio "$sw" "$gw")" "$(ratio "$sc" "$gc")"
	printf '%-11s %-24s %9s %9s   replay %sx / %sx faster (goal >= 20x)\n' "$shape" 'ausearch -m SECCOMP -i' "$aw" "$ac" \
		"$(ratio "$aw" "$sw")" "$(ratio "$ac" "$sc")"
done

# Memory stays flat however large the input: a tenth of it, and all of it.
log="$work/standalone.log"
head -n $((lines / 10)) "$log" >"$work/tenth.log"
for f in "$work/tenth.log" "$log"; do
	/usr/bin/time -f "replay max RSS %M KB for $(wc -l <"$f") lines" "$work/seccompwatch" replay --output jsonl "$f" 2>&1 >/dev/null | tail -n 1
done
