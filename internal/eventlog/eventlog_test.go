package eventlog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

func ev(pid int) *event.Event {
	return &event.Event{Record: auditstream.Record{PID: pid, Comm: "x\ny", Action: auditstream.ActionErrno}, SyscallName: "uname", Unit: "a.service", Method: "bpf"}
}

func lines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestWriteReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(ev(1))
	w.Write(ev(2))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// logrotate moves the file away, then sends SIGHUP.
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	w.Write(ev(3)) // still buffered for the old file
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write(ev(4))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, rotated); len(got) != 3 || got[2]["pid"] != 3.0 {
		t.Fatalf("rotated file = %v", got)
	}
	got := lines(t, path)
	if len(got) != 1 || got[0]["pid"] != 4.0 || got[0]["comm"] != "x\ny" || got[0]["attribution"] != "bpf" {
		t.Fatalf("new file = %v", got)
	}
	if n, errs, _ := w.Stats(); n != 4 || errs != 0 {
		t.Fatalf("stats = %d written, %d errors", n, errs)
	}
}

func TestWriteErrorsAreCounted(t *testing.T) {
	// /dev/full fails every write with ENOSPC: the disk-full case.
	w, err := Open("/dev/full")
	if err != nil {
		testutil.Unavailable(t, "no /dev/full: "+err.Error())
	}
	for i := range 2000 { // more than the buffer holds
		w.Write(ev(i))
	}
	if err := w.Flush(); err == nil {
		t.Fatal("flush to /dev/full succeeded")
	}
	_, errs, last := w.Stats()
	if errs == 0 || last == "" {
		t.Fatalf("errors not counted: %d %q", errs, last)
	}
	w.Write(ev(1)) // keeps accepting events
	w.Close()
}

func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				w.Write(ev(g*1000 + i))
				if i%50 == 0 {
					_ = w.Reopen()
				}
			}
		}()
	}
	wg.Wait()
	w.Close()
	if got := lines(t, path); len(got) != 1000 {
		t.Fatalf("got %d lines, want 1000", len(got))
	}
}

// TestFlushedWithoutBeingAsked checks that an event reaches the file within
// a few FlushDelays even when nobody calls Flush.
func TestFlushedWithoutBeingAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(ev(7))
	deadline := time.Now().Add(100 * FlushDelay)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); len(b) > 0 {
			return
		}
		time.Sleep(FlushDelay / 2)
	}
	t.Fatal("event not written without an explicit Flush")
}

// TestDrainWritesAndDisarms: Drain writes the pending events at once and
// stops the flush timer; the timer is armed again by the next Write and
// still writes that event through by itself.
func TestDrainWritesAndDisarms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 3 {
		w.Write(ev(i))
	}
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, path); len(got) != 3 {
		t.Fatalf("after Drain: %d lines, want 3", len(got))
	}
	w.mu.Lock()
	armed := w.armed
	w.mu.Unlock()
	if armed {
		t.Error("flush timer still armed after Drain")
	}
	w.Write(ev(9))
	deadline := time.Now().Add(100 * FlushDelay)
	for len(lines(t, path)) != 4 {
		if time.Now().After(deadline) {
			t.Fatal("event after a Drain not written by the flush timer")
		}
		time.Sleep(FlushDelay / 2)
	}
}

// TestWriteHeld: an event written held arms no flush timer and is in the
// file after Drain; a held write beside a timed one leaves the timed one's
// timer armed.
func TestWriteHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	armed := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.armed
	}
	for i := range 3 {
		w.WriteHeld(ev(i))
	}
	if armed() {
		t.Fatal("a held write armed the flush timer")
	}
	time.Sleep(3 * FlushDelay)
	if got := lines(t, path); len(got) != 0 {
		t.Fatalf("held events written without Drain: %d lines", len(got))
	}
	if err := w.Drain(); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, path); len(got) != 3 {
		t.Fatalf("after Drain: %d lines, want 3", len(got))
	}
	w.Write(ev(4))
	w.WriteHeld(ev(5))
	if !armed() {
		t.Fatal("a held write disarmed a timed one's timer")
	}
	deadline := time.Now().Add(100 * FlushDelay)
	for len(lines(t, path)) != 5 {
		if time.Now().After(deadline) {
			t.Fatal("events not written by the flush timer")
		}
		time.Sleep(FlushDelay / 2)
	}
}

// TestDiskFull fills a small tmpfs of its own, then frees space: every
// event is either in the file as a whole line or counted as an error, and
// the lines written after the disk had room again are whole too.
func TestDiskFull(t *testing.T) {
	testutil.RequireRoot(t, "mounts a tmpfs")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k,mode=0700"); err != nil {
		testutil.Unavailable(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 32<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		w.Write(ev(i))
		if i%7 == 0 {
			_ = w.Flush()
		}
	}
	_ = w.Flush()
	if _, errs, _ := w.Stats(); errs == 0 {
		t.Fatal("no write error on a full disk")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		w.Write(ev(n + i))
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close after space was freed: %v", err)
	}
	written, errs, _ := w.Stats()
	got := lines(t, path) // fails on a torn line
	if uint64(len(got)) != written || written+errs != n+10 {
		t.Errorf("%d lines in the file, stats: %d written + %d errors, want them to add up to %d events", len(got), written, errs, n+10)
	}
	if len(got) == 0 || got[len(got)-1]["pid"] != float64(n+9) {
		t.Errorf("the last event is not the last line after space was freed")
	}
}
