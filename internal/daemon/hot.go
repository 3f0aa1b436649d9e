package daemon

import (
	"sync/atomic"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/metrics"
	"github.com/seccompwatch/seccompwatch/internal/units"
	"github.com/seccompwatch/seccompwatch/suggest"
)

// hotSize is how many distinct recent denials hotCache keeps.
const hotSize = 8

// hotCache makes a denial storm cheap: a storm is a few processes making
// one denied call again and again, whose records differ only in time and
// serial. For the last hotSize distinct records (every field but time and
// serial) and the attribution the primary methods gave them, it keeps
// what the record path derived: the enriched, attributed event, the risk,
// the metric series' counter, the aggregator slot, the attribution
// counter and the verdict key. A record that matches one is counted with a
// few increments instead of look-ups, label hashing and allocations; any
// other record takes the full path (handleSlow) and replaces the oldest
// entry. The record's attribution is asked for every record (a pid can
// move or be reused between two records), and the entry is used only when
// it is the same answer. Only the read loop uses it.
type hotCache struct {
	next    int
	entries [hotSize]*hotEntry
}

type hotEntry struct {
	key     auditstream.Record // the record without time and serial
	res     units.Result       // the primary methods' answer it was derived with
	ev      event.Event        // enriched and attributed; Record and Verdict set per record
	denial  suggest.Denial     // the aggregator's input; Time set per record
	risky   bool
	counter metrics.DenialCounter
	outcome *atomic.Uint64 // the attribution (or failure) counter
	slot    *suggest.Slot  // nil: did not fit the aggregator's limits (AddSlot counts each)
	vkey    verdictKey
	judged  bool           // vkey names a unit: the event carries a verdict
	verdict *event.Verdict // the last fresh verdict, until vUntil
	vUntil  time.Time
}

// hotKey returns rec without the fields that differ between the records
// of a storm.
func hotKey(rec *auditstream.Record) auditstream.Record {
	k := *rec
	k.Time, k.Serial, k.HasSerial = time.Time{}, 0, false
	return k
}

// find returns the entry for key and res, or nil.
func (c *hotCache) find(key *auditstream.Record, res *units.Result) *hotEntry {
	for _, e := range c.entries {
		if e != nil && e.key == *key && e.res == *res {
			return e
		}
	}
	return nil
}

// put stores e, replacing the oldest entry.
func (c *hotCache) put(e *hotEntry) {
	c.entries[c.next] = e
	c.next = (c.next + 1) % hotSize
}

// cacheable reports whether records attributed with res may share an
// entry: not when the exe or systemd's ExecMainPID could rescue a failed
// attribution, since that answer depends on the units' processes at the
// time (confirmedByUnit, byMainPID).
func cacheable(res *units.Result) bool {
	return res.Unit.Name != "" || !rescuable[res.Reason]
}
