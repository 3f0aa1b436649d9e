package memlimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	for _, tc := range []struct{ base, live, gogc, want uint64 }{
		{24 << 20, 0, 25, 24 << 20},
		{24 << 20, 12 << 20, 25, 24 << 20}, // 10,000 pairs: the base
		{24 << 20, 20 << 20, 25, 40 << 20},
		{24 << 20, 40 << 20, 25, 80 << 20},
		{24 << 20, 40 << 20, 100, 110 << 20},
		{0, 4 << 20, 25, 8 << 20},
		{24 << 20, math.MaxUint64, 25, math.MaxInt64},
	} {
		if got := Limit(tc.base, tc.live, tc.gogc); got != tc.want {
			t.Errorf("Limit(%d, %d, %d) = %d, want %d", tc.base, tc.live, tc.gogc, got, tc.want)
		}
	}
}

// TestFollow: with a live heap whose goal is above the base, the
// runtime's limit rises above that goal after a collection; once the heap
// is given up it falls back to the base by the collection Follow makes
// itself after a raise (nothing here collects); after stop it is what it
// was before.
func TestFollow(t *testing.T) {
	const base = 24 << 20
	defer func(s time.Duration) { settle = s }(settle)
	settle = 200 * time.Millisecond
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	before := debug.SetMemoryLimit(-1)
	stop := Follow(base)
	defer stop() // before settle is put back
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	wait := func(what string, collect bool, ok func(int64) bool) {
		t.Helper()
		for start := time.Now(); !ok(limit()); time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: limit %d MiB", what, limit()>>20)
			}
			if collect {
				runtime.GC()
			}
		}
	}
	wait("at start", false, func(l int64) bool { return l == base })
	held := make([]byte, 64<<20)
	for i := range held {
		held[i] = 1
	}
	wait("with 64 MiB live", true, func(l int64) bool { return l >= 64<<20*2 })
	runtime.KeepAlive(held)
	held = nil
	_ = held
	wait("after it was given up, without a collection of the test's", false, func(l int64) bool { return l == base })
	stop()
	if l := limit(); l != before {
		t.Errorf("after stop: limit %d, want %d", l, before)
	}
}
