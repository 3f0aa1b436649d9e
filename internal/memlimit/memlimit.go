// Package memlimit keeps the Go runtime's soft memory limit
// (debug.SetMemoryLimit) where it bounds the resident set without making
// the garbage collector run on every allocation.
//
// A fixed limit does both: below it RSS stays near what the program
// holds, but once the heap the collector aims for (the live heap plus
// GOGC percent) reaches it, the collector runs back to back, up to half
// the CPU (the runtime's cap), for as long as anything allocates. The
// daemon's live heap grows with the unit × syscall pairs it has seen
// (bounded by its --max-series and --max-units), so a limit fit for 1,000
// pairs is a spin at 10,000 (issue 15: 22% of a core at 1,000 denials/s
// under a fixed 14 MiB). Follow keeps the limit a margin above the heap
// goal after every collection, never below the configured base; while it
// is raised, it collects again now and then, so that a transient (a
// scrape, a large API answer) does not leave the limit, and with it the
// resident set, raised while nothing allocates.
package memlimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Limit returns the soft memory limit for a live heap of live bytes under
// GOGC gogc: the heap goal (live × (1 + gogc/100)) plus three quarters of
// the live heap for what else the runtime holds beside it (fragmented
// spans, stacks, metadata: at 100,000 pairs a quarter was not enough, and
// the collector spun), but not below base.
func Limit(base, live, gogc uint64) uint64 {
	f := 1.75 + float64(gogc)/100
	l := float64(live) * f
	if l >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(base, uint64(l))
}

// settle is how long after raising the limit Follow collects once more;
// maxSettle the longest wait between such collections while it stays
// raised (a daemon whose live heap is above the base: one collection a
// minute, ~30 ms of CPU at 100,000 pairs).
var (
	settle    = 500 * time.Millisecond
	maxSettle = time.Minute
)

// Follow sets the runtime's soft memory limit to Limit(base, live heap,
// GOGC) now and after every garbage collection, until stop is called,
// which puts back the limit there was before. It does not wake the
// program by itself: it runs on the runtime's finalizer goroutine, once a
// collection, and while the limit is raised it collects once more now
// and then (see recheck).
func Follow(base uint64) (stop func()) {
	old := debug.SetMemoryLimit(-1)
	f := &follower{base: base}
	f.collected()
	arm(f.collected)
	return func() {
		f.mu.Lock()
		f.stopped = true
		if f.timer != nil {
			f.timer.Stop()
		}
		f.mu.Unlock()
		debug.SetMemoryLimit(old)
	}
}

type follower struct {
	base    uint64
	mu      sync.Mutex
	stopped bool
	limit   uint64
	// timer is the pending re-check (see recheck), or nil; checking is
	// set while a re-check collects.
	timer    *time.Timer
	checking bool
}

// collected runs after each collection; false ends following.
func (f *follower) collected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	f.setLocked()
	return true
}

func (f *follower) setLocked() {
	l := Limit(f.base, Setting("/gc/heap/live:bytes"), Setting("/gc/gogc:percent"))
	raised := f.limit != 0 && l > f.limit
	f.limit = l
	debug.SetMemoryLimit(int64(l))
	// A raise starts the re-checks, unless they are on already: a raise
	// found while they are (the live heap's own small moves, or their
	// own collections) does not bring them back to settle, which made a
	// collection every half second of a 50 MB heap.
	if raised && l > f.base && f.timer == nil && !f.checking {
		f.recheck(settle)
	}
}

// recheck collects after d, and again after twice as long (up to
// maxSettle) while the limit stays above the base: the heap that raised
// it may be given up at any time, and with nothing allocating no
// collection would come to lower it. Called with f.mu held.
func (f *follower) recheck(d time.Duration) {
	f.timer = time.AfterFunc(d, func() {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return
		}
		f.checking = true
		f.mu.Unlock()
		runtime.GC()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.timer = nil
		if f.stopped {
			return
		}
		f.setLocked()
		f.checking = false
		if f.limit > f.base {
			f.recheck(min(2*d, maxSettle))
		}
	})
}

// sentinel is an object whose finalizer runs after the collection that
// finds it unreachable (a pointer field keeps it out of the tiny
// allocator, whose objects may never be finalized).
type sentinel struct{ _ *int }

// arm makes f run after the next garbage collection, and after each one
// after it while f returns true.
func arm(f func() bool) {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		if f() {
			arm(f)
		}
	})
}

// Setting returns one of the Go runtime's uint64 metrics or settings by
// its runtime/metrics name (e.g. "/gc/gogc:percent"), 0 when the runtime
// does not have it.
func Setting(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
