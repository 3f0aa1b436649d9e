package auditstream

import (
	"testing"
	"time"
)

func TestSerialTracker(t *testing.T) {
	t.Parallel()
	type step struct {
		serial uint32
		at     time.Duration // since start
	}
	tests := []struct {
		name        string
		steps       []step
		flushAt     time.Duration
		wantLost    uint64 // counted by observe and the final flush
		wantPending uint64
	}{
		{"in order", []step{{1, 0}, {2, 0}, {2, 0}, {3, 0}}, time.Hour, 0, 0},
		{"first serial sets the base", []step{{1000, 0}, {1001, 0}}, time.Hour, 0, 0},
		{"gap counted after grace", []step{{1, 0}, {5, 0}}, 3 * time.Second, 3, 0},
		{"gap pending within grace", []step{{1, 0}, {5, 0}}, time.Second, 0, 3},
		{"late arrival fills the hole", []step{{1, 0}, {3, 0}, {2, 0}}, time.Hour, 0, 0},
		{"late arrival splits a hole", []step{{1, 0}, {10, 0}, {5, 0}}, time.Hour, 7, 0},
		{"late arrivals at both edges", []step{{1, 0}, {6, 0}, {2, 0}, {5, 0}}, time.Hour, 2, 0},
		{"old duplicate is ignored", []step{{1, 0}, {2, 0}, {3, 0}, {1, 0}}, time.Hour, 0, 0},
		{"wrap without loss", []step{{0xfffffffe, 0}, {0xffffffff, 0}, {0, 0}, {1, 0}}, time.Hour, 0, 0},
		{"wrap with loss", []step{{0xfffffffe, 0}, {1, 0}}, time.Hour, 2, 0},
		{"late arrival across the wrap", []step{{0xfffffffe, 0}, {1, 0}, {0xffffffff, 0}}, time.Hour, 1, 0},
		{"two holes, one late", []step{{1, 0}, {3, 0}, {6, time.Second}, {2, 2 * time.Second}}, 2500 * time.Millisecond, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Unix(1000, 0)
			tr := newSerialTracker()
			var lost uint64
			for _, s := range tc.steps {
				lost += tr.observe(s.serial, start.Add(s.at))
			}
			lost += tr.flush(start.Add(tc.flushAt))
			var sum uint64
			for _, g := range tr.gaps {
				sum += g.size()
			}
			if sum != tr.pending() {
				t.Errorf("pending %d, but the holes %+v hold %d", tr.pending(), tr.gaps, sum)
			}
			if lost != tc.wantLost || tr.pending() != tc.wantPending {
				t.Errorf("lost %d pending %d, want lost %d pending %d (holes %+v)", lost, tr.pending(), tc.wantLost, tc.wantPending, tr.gaps)
			}
		})
	}
}

// TestSerialTrackerMaxGaps checks that the pending list is bounded: the
// oldest holes are counted when it is full.
func TestSerialTrackerMaxGaps(t *testing.T) {
	t.Parallel()
	tr := newSerialTracker()
	tr.maxGaps = 3
	now := time.Now()
	var lost uint64
	for s := uint32(0); s <= 20; s += 2 { // a hole of one after every serial
		lost += tr.observe(s, now)
	}
	if len(tr.gaps) != 3 || lost != 10-3 || tr.pending() != 3 {
		t.Errorf("holes %d lost %d pending %d, want 3, 7, 3", len(tr.gaps), lost, tr.pending())
	}
}
