#!/usr/bin/env bash
# Daemon benchmark: runs `seccompwatch run` (multicast, eBPF attribution)
# and measures it from the outside with real denials (bench/load):
#   latency  kernel record → visible in /metrics and in the event stream,
#            at RATE denied calls per second (goal: p99 < 50 ms at 1000/s);
#   cpu      the daemon's CPU (utime+stime, % of one core) idle for
#            IDLE (goal <= 0.1%; other processes' denials on the host
#            are read too, and counted) and at RATE denials/s for
#            DURATION with nothing scraping (goal <= 2% at 1000/s);
#   memory   the daemon's RSS after UNITS × SYSCALLS distinct unit×syscall
#            pairs (goal: < 30 MB at 10,000 pairs).
# Needs root. Creates and removes its own cgroups; changes no audit state.
#   RATE=1000 DURATION=10s IDLE=30 UNITS=100 SYSCALLS=100 ./bench/daemon.sh
# PARTS picks the measurements (default "cpu latency memory"), e.g.
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
part() { [[ " $PARTS " == *" $1 "* ]]; }
tmp=$(mktemp -d /tmp/swbench.XXXXXX)
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/seccompwatch" ./cmd/seccompwatch
go build -o "$tmp/load" ./bench/load

start() {
	"$tmp/seccompwatch" run --web.listen-address="127.0.0.1:$PORT" --state.dir="$tmp/state" \
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
cpu_pct() { # ticks0 ticks1 seconds
	awk -v a="$1" -v b="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f%% of a core (%d ticks of 1/%d s in %.1f s)", 100 * (b - a) / hz / s, b - a, hz, s}'
}

if part cpu; then
echo "== cpu: idle for ${IDLE}s, then $RATE denials/s for $DURATION, nothing scraping"
start
sleep 2 # start-up done
r0=$(seccomp_records) c0=$(cpu_ticks) t0=$(date +%s.%N)
sleep "$IDLE"
c1=$(cpu_ticks) t1=$(date +%s.%N) r1=$(seccomp_records)
echo "idle: $(cpu_pct "$c0" "$c1" "$(echo "$t1 - $t0" | bc)"); SECCOMP records of other processes read meanwhile: $((r1 - r0))"
c0=$(cpu_ticks) t0=$(date +%s.%N)
"$tmp/load" rate -rate "$RATE" -duration "$DURATION"
c1=$(cpu_ticks) t1=$(date +%s.%N) r2=$(seccomp_records)
echo "at $RATE/s: $(cpu_pct "$c0" "$c1" "$(echo "$t1 - $t0" | bc)"); SECCOMP records read: $((r2 - r1))"
stop
fi

if part latency; then
echo "== latency: $RATE denials/s for $DURATION"
start
"$tmp/load" latency -server "http://127.0.0.1:$PORT" -events "$tmp/events.jsonl" -rate "$RATE" -duration "$DURATION"
stop
fi

if part memory; then
echo "== memory: $UNITS units × $SYSCALLS syscalls"
rm -rf "$tmp/state" "$tmp/events.jsonl"
start
"$tmp/load" pairs -server "http://127.0.0.1:$PORT" -pid "$pid" -units "$UNITS" -syscalls "$SYSCALLS"
stop
fi
