//go:build linux

package auditstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// datagram builds a kernel-style audit datagram: a netlink header whose
// nlmsg_len excludes the header (the kernel's quirk), then the payload.
func datagram(typ uint16, payload string) []byte {
	b := make([]byte, 16+len(payload))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	copy(b[16:], payload)
	return b
}

const sampleSeccomp = `audit(1763775501.123:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=1234 comm="deny" exe="/usr/local/bin/deny" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f0000001000 code=0x80000000`

// TestHandle feeds datagrams to the per-datagram path: type counts,
// serial gaps across record types, parse errors by reason, and the nlmsg
// length quirk (the whole datagram is the record).
func TestHandle(t *testing.T) {
	t.Parallel()
	s, err := NewSource(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newSerialTracker()
	var got []Record
	out := func(r Record, raw []byte) { got = append(got, r) }
	now := time.Unix(2000, 0)
	s.handle(datagram(1326, sampleSeccomp+"\x00"), tr, now, out)
	s.handle(datagram(1701, "audit(1763775501.123:42): auid=4294967295 pid=1234 sig=31 res=1"), tr, now, out)
	s.handle(datagram(1300, "audit(1763775501.200:45): arch=c000003e syscall=59"), tr, now, out) // 43, 44 missing
	s.handle(datagram(1326, "audit(1763775501.300:46): pid=1"), tr, now, out)                    // malformed
	s.handle([]byte{1, 2, 3}, tr, now, out)
	s.addGapLoss(tr.flush(now.Add(time.Minute)))

	if len(got) != 1 || got[0].PID != 1234 || got[0].Syscall != 110 || got[0].Action != ActionKillProcess || got[0].Serial != 42 {
		t.Fatalf("records %+v, want the one SECCOMP record", got)
	}
	st := s.Stats()
	want := map[string]uint64{"SECCOMP": 2, "ANOM_ABEND": 1, "SYSCALL": 1}
	for k, v := range want {
		if st.Records[k] != v {
			t.Errorf("Records[%s] = %d, want %d (all %v)", k, st.Records[k], v, st.Records)
		}
	}
	if st.Lost[LostSerialGap] != 2 {
		t.Errorf("serial gap %d, want 2", st.Lost[LostSerialGap])
	}
	if st.ParseErrors[ReasonMissingArch] != 1 || st.Rejected != 1 {
		t.Errorf("parse errors %v rejected %d, want missing_arch 1, rejected 1", st.ParseErrors, st.Rejected)
	}
}

// TestHandleGapBeforeOut: the record that opens a serial hole reaches out
// only after Stats shows the hole as pending (a reader who has the record
// must not read a stale zero and conclude nothing was lost).
func TestHandleGapBeforeOut(t *testing.T) {
	t.Parallel()
	s, err := NewSource(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newSerialTracker()
	now := time.Unix(2000, 0)
	var pending []uint64
	out := func(Record, []byte) { pending = append(pending, s.Stats().PendingSerialGap) }
	s.handle(datagram(1326, sampleSeccomp), tr, now, out) // serial 42
	s.handle(datagram(1326, strings.Replace(sampleSeccomp, ":42)", ":50)", 1)), tr, now, out)
	s.handle(datagram(1326, strings.Replace(sampleSeccomp, ":42)", ":45)", 1)), tr, now, out) // late
	if want := []uint64{0, 7, 6}; !slices.Equal(pending, want) {
		t.Errorf("pending seen by out %v, want %v", pending, want)
	}
}

// FuzzHandleDatagram: any datagram is counted, never panics, and only a
// SECCOMP datagram reaches out.
func FuzzHandleDatagram(f *testing.F) {
	f.Add(datagram(1326, sampleSeccomp))
	f.Add(datagram(1326, "audit(1.2:3): comm=\"x"))
	f.Add(datagram(1300, "audit(1763775501.200:45): arch=c000003e"))
	f.Add(datagram(65535, "audit(:)"))
	f.Add([]byte{})
	s, _ := NewSource(Options{})
	tr := newSerialTracker()
	f.Fuzz(func(t *testing.T, d []byte) {
		s.handle(d, tr, time.Now(), func(r Record, raw []byte) {
			if len(d) < 16 || binary.NativeEndian.Uint16(d[4:6]) != auditSeccomp {
				t.Fatalf("out called for a non-SECCOMP datagram %q", d)
			}
		})
	})
}

// BenchmarkHandle measures the per-record cost of the read path after
// recv: type count, serial tracking, ParseKernel.
func BenchmarkHandle(b *testing.B) {
	s, _ := NewSource(Options{})
	tr := newSerialTracker()
	d := datagram(1326, sampleSeccomp)
	now := time.Now()
	n := 0
	out := func(Record, []byte) { n++ }
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for i := 0; b.Loop(); i++ {
		s.handle(d, tr, now, out)
	}
	if n == 0 {
		b.Fatal("no records")
	}
}

// TestReadLoopWakeFDClosedLast: when ctx ends, readLoop's waker goroutine
// writes to an eventfd; readLoop must not close that fd while the waker may
// still write to it, or the 8 bytes land in whatever file reuses the number.
func TestReadLoopWakeFDClosedLast(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	s, err := NewSource(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	buf := make([]byte, 8)
	for i := range 3000 {
		if err := s.readLoop(ctx, &nlSocket{fd: fds[0]}, nil, func(Record, []byte) {}); err != nil {
			t.Fatal(err)
		}
		// The eventfd's number is the lowest free one: the new one gets it.
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Microsecond)
		n, _ := unix.Read(efd, buf)
		unix.Close(efd)
		if n > 0 {
			t.Fatalf("iteration %d: a stray write of %d bytes reached a file opened after readLoop returned", i, n)
		}
	}
}

// TestGapLossLogRate: in a storm the pending-hole list overflows and every
// new hole counts a loss; the counter must take them all, but the log must
// not get a line per datagram (that slows the reader and loses more).
func TestGapLossLogRate(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.WarnLevel)
	s, err := NewSource(Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	tr := newSerialTracker()
	tr.maxGaps = 3
	now := time.Unix(2000, 0)
	out := func(Record, []byte) {}
	for serial := 1; serial <= 401; serial += 2 { // a hole after every event
		s.handle(datagram(1300, fmt.Sprintf("audit(1763775501.200:%d): arch=c000003e syscall=59", serial)), tr, now, out)
	}
	if got, want := s.Stats().Lost[LostSerialGap], uint64(200-3); got != want {
		t.Errorf("serial gap %d, want %d", got, want)
	}
	if n := logs.FilterMessageSnippet("serial gap").Len(); n > 2 {
		t.Errorf("%d serial-gap log lines for one burst, want at most 2", n)
	}
}

// TestCoalesce: the read loop pauses after a wake-up that read records,
// longer at ordinary rates than in a storm, never after one that read
// nothing, and never with a receive buffer a storm's pause could overflow.
func TestCoalesce(t *testing.T) {
	for _, tc := range []struct {
		rcvbuf int64
		read   int
		want   time.Duration
	}{
		{128 << 20, 0, 0},
		{128 << 20, 1, coalesceLow},
		{128 << 20, coalesceAfter - 1, coalesceLow},
		{128 << 20, coalesceAfter, coalesceDelay},
		{128 << 20, 10 * recvBatchLen, coalesceDelay},
		{minPauseRcvBuf, 1, coalesceLow},
		{minPauseRcvBuf - 1, 1, 0},
		{minPauseRcvBuf - 1, coalesceAfter, 0},
		{416 << 10, 1000, 0}, // rmem_max's default, doubled
	} {
		s, err := NewSource(Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.rcvbuf.Store(tc.rcvbuf)
		if got := s.coalesce(tc.read); got != tc.want {
			t.Errorf("rcvbuf %d, %d read: pause %v, want %v", tc.rcvbuf, tc.read, got, tc.want)
		}
	}
}
