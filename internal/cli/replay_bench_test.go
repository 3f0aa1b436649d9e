package cli

import (
	"io"
	"os"
	"testing"
)

// BenchmarkReplayFile replays $SECCOMPWATCH_BENCH_LOG (e.g. bench/genlog's
// output) through the whole command, as `seccompwatch replay --output
// jsonl FILE` does, output discarded: for -cpuprofile. Without the
// variable it does nothing.
func BenchmarkReplayFile(b *testing.B) {
	f := os.Getenv("SECCOMPWATCH_BENCH_LOG")
	if f == "" {
		b.Skip("SECCOMPWATCH_BENCH_LOG names no file")
	}
	table := os.Getenv("SECCOMPWATCH_BENCH_TABLE")
	if table == "" {
		table = "252"
	}
	for b.Loop() {
		if code := Main([]string{"replay", "--output", "jsonl", "--systemd.table", table, f}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
