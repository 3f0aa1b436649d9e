#!/usr/bin/env bash
# Daemon benchmark: runs `seccompwatch run` (multicast, eBPF attribution)
# and measures it from the outside with real denials (bench/load):
#   cpu      the daemon's CPU (utime+stime, % of one core) idle for
#            IDLE (goal <= 0.1%; other processes' denials on the host
#            are read too, and counted) and at RATE denials/s for
#            DURATION with nothing scraping (goal <= 2% at 1000/s);
#   latency  kernel record → visible in /metrics and in the event stream,
#            at RATE denied calls per second (goal: p99 < 50 ms at 1000/s);
#   memory   the daemon's RSS after UNITS × SYSCALLS distinct unit×syscall
#            pairs (goal: < 30 MB at 10,000 pairs).
# PARTS picks them (default: all three, in that order). BINS compares
# binaries side by side: a list of NAME=PATH (default: one built from this
# tree, named tree); each round runs every part for every binary in turn,
# ROUNDS times (default 1), and the end prints each figure's median and
# range per binary: on a shared host only figures of the same run, taken
# in alternation, compare. The state directory is kept from part to part:
# after a memory part the next parts run with its pairs known (PARTS="memory
# cpu": the CPU at RATE of a daemon that has seen UNITS × SYSCALLS pairs).
# Needs root. Creates and removes its own cgroups; changes no audit state.
#   RATE=1000 DURATION=10s IDLE=30 UNITS=100 SYSCALLS=100 ./bench/daemon.sh
#   BINS="before=/tmp/sw-old after=/tmp/sw-new" ROUNDS=5 PARTS=cpu IDLE=10 ./bench/daemon.sh
#   PARTS=memory UNITS=1000 ./bench/daemon.sh   # 100,000 pairs
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-1000}
DURATION=${DURATION:-10s}
IDLE=${IDLE:-30}
UNITS=${UNITS:-100}
SYSCALLS=${SYSCALLS:-100}
PORT=${PORT:-19873}
PARTS=${PARTS:-cpu latency memory}
ROUNDS=${ROUNDS:-1}
tmp=$(mktemp -d /tmp/swbench.XXXXXX)
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

if [[ -z "${BINS:-}" ]]; then
	go build -o "$tmp/seccompwatch" ./cmd/seccompwatch
	BINS="tree=$tmp/seccompwatch"
fi
go build -o "$tmp/load" ./bench/load

bin="" # the binary start runs
start() {
	"$bin" run --web.listen-address="127.0.0.1:$PORT" --state.dir="$tmp/state" \
		--events.file="$tmp/events.jsonl" --dbus.address=none --log.level=warn "$@" 2>"$tmp/daemon.log" &
	pid=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "daemon did not become healthy:"; cat "$tmp/daemon.log"; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
seccomp_records() { curl -fs "http://127.0.0.1:$PORT/metrics" | awk 'index($0, "seccompwatch_audit_records_total{type=\"SECCOMP\"}") == 1 {print $NF}'; }
pct() { # ticks0 ticks1 seconds
	awk -v a="$1" -v b="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", 100 * (b - a) / hz / s}'
}

declare -A fig # fig[name,figure] = one value a line, a line per round
note() { fig[$1,$2]+="$3"$'\n'; }

part_cpu() { # name
	start
	sleep 2 # start-up done
	local r0 c0 t0 c1 t1 r1 r2 idle busy
	r0=$(seccomp_records) c0=$(cpu_ticks) t0=$(date +%s.%N)
	sleep "$IDLE"
	c1=$(cpu_ticks) t1=$(date +%s.%N) r1=$(seccomp_records)
	idle=$(pct "$c0" "$c1" "$(echo "$t1 - $t0" | bc)")
	echo "$1 idle: $idle% of a core ($((c1 - c0)) ticks in ${IDLE}s); SECCOMP records of other processes read meanwhile: $((r1 - r0))"
	c0=$(cpu_ticks) t0=$(date +%s.%N)
	"$tmp/load" rate -rate "$RATE" -duration "$DURATION" >/dev/null
	c1=$(cpu_ticks) t1=$(date +%s.%N) r2=$(seccomp_records)
	busy=$(pct "$c0" "$c1" "$(echo "$t1 - $t0" | bc)")
	echo "$1 at $RATE/s: $busy% of a core ($((c1 - c0)) ticks); SECCOMP records read: $((r2 - r1))"
	stop
	note "$1" "idle %" "$idle"
	note "$1" "cpu % at $RATE/s" "$busy"
}

part_latency() {
	start
	"$tmp/load" latency -server "http://127.0.0.1:$PORT" -events "$tmp/events.jsonl" -rate "$RATE" -duration "$DURATION" | tee "$tmp/lat.txt" | sed "s/^/$1 /"
	stop
	local m e
	m=$(awk '$3 == "/metrics" {for (i = 1; i < NF; i++) if ($i == "p99") print $(i + 1)}' "$tmp/lat.txt")
	e=$(awk '$3 == "event" {for (i = 1; i < NF; i++) if ($i == "p99") print $(i + 1)}' "$tmp/lat.txt")
	note "$1" "p99 ms /metrics" "$(ms "$m")"
	note "$1" "p99 ms events" "$(ms "$e")"
}
ms() { # a Go duration (1.2ms, 850µs, 1.5s) in ms
	awk -v d="$1" 'BEGIN {
		if (d ~ /µs$/) { sub(/µs$/, "", d); printf "%.1f", d / 1000 }
		else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.1f", d }
		else if (d ~ /s$/) { sub(/s$/, "", d); printf "%.1f", d * 1000 }
		else printf "nan" }'
}

part_memory() {
	rm -rf "$tmp/state" "$tmp/events.jsonl"
	start
	"$tmp/load" pairs -server "http://127.0.0.1:$PORT" -pid "$pid" -units "$UNITS" -syscalls "$SYSCALLS" | tee "$tmp/mem.txt" | sed "s/^/$1 /"
	stop
	note "$1" "RSS MB at $((UNITS * SYSCALLS)) pairs" "$(awk '/^daemon RSS:/ {print $6}' "$tmp/mem.txt")"
	note "$1" "RSS MB anon" "$(awk '/^daemon RSS after:/ {print $4}' "$tmp/mem.txt")"
	note "$1" "RSS MB file" "$(awk '/^daemon RSS after:/ {print $10}' "$tmp/mem.txt")"
	note "$1" "peak RSS MB, records" "$(awk '/^daemon peak RSS:/ {print $4}' "$tmp/mem.txt")"
}

for round in $(seq "$ROUNDS"); do
	echo "== round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
	for part in $PARTS; do
		for b in $BINS; do
			bin=${b#*=}
			"part_$part" "${b%%=*}"
		done
	done
done

stats() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) exit; m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; if (NR == 1) printf "%.3g", m; else printf "%.3g (%.3g-%.3g, %d rounds)", m, v[1], v[NR], NR}'; }
echo "== medians (range) per binary; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
for key in "${!fig[@]}"; do echo "$key"; done | sort -t, -k2,2 -k1,1 | while IFS=, read -r name what; do
	printf '  %-28s %-10s %s\n' "$what" "$name" "$(printf '%s' "${fig[$name,$what]}" | grep . | stats)"
done
