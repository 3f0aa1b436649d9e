#!/bin/sh
# bench/replay.sh: time `seccompwatch replay` against `ausearch -m SECCOMP -i`
# on the same generated audit.log (goal: seccompwatch >= 20x faster).
#
# Usage: bench/replay.sh [LINES]   (default 1000000)
# Needs ausearch (auditd). To install it without starting the daemon:
#   apt-get update && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d &&
#   chmod +x /usr/sbin/policy-rc.d && apt-get install -y auditd; rm /usr/sbin/policy-rc.d
set -eu
lines=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cd "$root"
go build -o "$work/seccompwatch" ./cmd/seccompwatch
go build -o "$work/genlog" ./bench/genlog
"$work/genlog" -n "$lines" -o "$work/audit.log"
echo "input: $(wc -l < "$work/audit.log") lines, $(grep -c '^type=SECCOMP' "$work/audit.log") SECCOMP, $(du -h "$work/audit.log" | cut -f1)"

# elapsed seconds of a command, output discarded
elapsed() {
	start=$(date +%s.%N)
	"$@" >/dev/null
	end=$(date +%s.%N)
	echo "$end - $start" | bc
}

sw=$(elapsed "$work/seccompwatch" replay --output jsonl "$work/audit.log")
echo "seccompwatch replay --output jsonl: ${sw}s"
if [ -x /usr/bin/time ]; then
	# Memory stays flat however large the input: compare with a tenth of it.
	head -n $((lines / 10)) "$work/audit.log" >"$work/tenth.log"
	for f in "$work/tenth.log" "$work/audit.log"; do
		/usr/bin/time -f "max RSS %M KB for $(wc -l <"$f") lines" "$work/seccompwatch" replay --output jsonl "$f" 2>&1 >/dev/null | tail -n 1
	done
fi
if ! command -v ausearch >/dev/null 2>&1; then
	echo "ausearch not installed: no comparison (see the header of $0)" >&2
	exit 1
fi
# ausearch exits 1 when nothing matched; the input always has matches
au=$(elapsed ausearch -m SECCOMP -i --input "$work/audit.log")
echo "ausearch -m SECCOMP -i:             ${au}s"
echo "speed-up: $(echo "scale=1; $au / $sw" | bc)x (goal >= 20x)"
