package auditstream

import "time"

// serialTracker finds audit events that never reached this reader.
//
// The kernel numbers audit events with one global 32-bit serial that grows by
// one per event; all records of an event share it. A serial that never
// shows up between ones that did is an event lost on the way to this reader
// (e.g. the socket overflowed). Serials are not strictly ordered on the
// wire: a syscall's context takes its serial at its first record and may
// log its last record after later events, so a missing serial is held for
// a grace period (or until too many are pending) before it is counted, and
// a late arrival fills its hole. The serial wraps at 2^32; distances are
// taken modulo 2^32, and a serial more than 2^31 behind counts as behind.
type serialTracker struct {
	started bool
	last    uint32     // the highest serial seen (serial arithmetic)
	gaps    []gapRange // missing serials not yet counted, ascending
	held    uint64     // the serials in gaps
	grace   time.Duration
	maxGaps int
}

// gapRange is an inclusive range of missing serials first noticed at seen.
type gapRange struct {
	lo, hi uint32
	seen   time.Time
}

func (g gapRange) size() uint64 { return uint64(g.hi-g.lo) + 1 }

const (
	defaultGapGrace = 2 * time.Second
	defaultMaxGaps  = 4096
)

func newSerialTracker() *serialTracker {
	return &serialTracker{grace: defaultGapGrace, maxGaps: defaultMaxGaps}
}

// observe notes serial s seen at now and returns how many events it now
// counts as lost (holes that fell out of the pending list).
func (t *serialTracker) observe(s uint32, now time.Time) uint64 {
	if !t.started {
		t.started, t.last = true, s
		return 0
	}
	d := s - t.last
	switch {
	case d == 0:
		return 0
	case d < 1<<31: // ahead
		var lost uint64
		if d > 1 {
			g := gapRange{lo: t.last + 1, hi: s - 1, seen: now}
			t.gaps = append(t.gaps, g)
			t.held += g.size()
			for len(t.gaps) > t.maxGaps {
				lost += t.gaps[0].size()
				t.gaps = t.gaps[1:]
			}
			t.held -= lost
		}
		t.last = s
		return lost
	default: // behind: a late record, or a duplicate of one already seen
		t.fill(s)
		return 0
	}
}

// fill removes s from the pending holes if it is in one.
func (t *serialTracker) fill(s uint32) {
	for i := len(t.gaps) - 1; i >= 0; i-- {
		g := t.gaps[i]
		if int32(s-g.hi) > 0 {
			return // newer than this hole and older holes: already seen
		}
		if int32(s-g.lo) < 0 {
			continue
		}
		t.held--
		switch {
		case g.lo == g.hi:
			t.gaps = append(t.gaps[:i], t.gaps[i+1:]...)
		case s == g.lo:
			t.gaps[i].lo++
		case s == g.hi:
			t.gaps[i].hi--
		default:
			left, right := g, g
			left.hi, right.lo = s-1, s+1
			t.gaps = append(t.gaps[:i+1], t.gaps[i:]...)
			t.gaps[i], t.gaps[i+1] = left, right
		}
		return
	}
}

// flush counts the holes older than the grace period as lost and returns
// how many events that is.
func (t *serialTracker) flush(now time.Time) uint64 {
	var lost uint64
	n := 0
	for _, g := range t.gaps {
		if now.Sub(g.seen) < t.grace {
			break
		}
		lost += g.size()
		n++
	}
	if n > 0 {
		t.gaps = append(t.gaps[:0], t.gaps[n:]...)
	}
	t.held -= lost
	return lost
}

// pending returns how many missing serials are held, not yet counted.
func (t *serialTracker) pending() uint64 { return t.held }
