package auditstream

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
)

// slowKernel is a netlink socket whose kernel acknowledges AUDIT_GET at
// once and sends the status only after delay, as audit_send_reply's
// kernel thread does on a loaded host. A fake, because a real kernel's
// delay cannot be made on demand; the real socket is read by the
// privileged tests (ReadAuditState, unicast).
type slowKernel struct {
	delay time.Duration
	errno syscall.Errno // the ack's error, 0 for none
	stale bool          // an earlier request's late status is queued first

	mu    sync.Mutex
	seq   uint32
	queue []queued
}

type queued struct {
	at  time.Time
	msg syscall.NetlinkMessage
}

func status(pid uint32) []byte {
	b := make([]byte, 40)
	binary.NativeEndian.PutUint32(b[12:], pid) // Mask, Enabled, Failure, PID
	return b
}

func (k *slowKernel) Send(msg syscall.NetlinkMessage) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seq += 2
	now := time.Now()
	if k.stale {
		k.queue = append(k.queue, queued{now, syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: libaudit.AuditGet, Seq: k.seq - 1}, Data: status(111)}})
	}
	ack := make([]byte, 4)
	binary.NativeEndian.PutUint32(ack, uint32(-int32(k.errno)))
	k.queue = append(k.queue, queued{now, syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: syscall.NLMSG_ERROR, Seq: k.seq}, Data: ack}})
	if k.errno == 0 {
		k.queue = append(k.queue, queued{now.Add(k.delay), syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: libaudit.AuditGet, Seq: k.seq}, Data: status(4242)}})
	}
	return k.seq, nil
}

func (k *slowKernel) SendNoWait(msg syscall.NetlinkMessage) (uint32, error) { return k.Send(msg) }
func (k *slowKernel) Close() error                                          { return nil }

func (k *slowKernel) Receive(bool, libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.queue) == 0 || time.Now().Before(k.queue[0].at) {
		return nil, syscall.EAGAIN
	}
	m := k.queue[0].msg
	k.queue = k.queue[1:]
	return []syscall.NetlinkMessage{m}, nil
}

// TestStatusReplyLate: the status arriving 1.5 s after the ack (go-libaudit's
// GetStatus gave up after 500 ms, which ended a unicast start on a loaded
// host), after an earlier request's late answer, or never; and a refused
// request.
func TestStatusReplyLate(t *testing.T) {
	t.Parallel()
	if _, err := (&libaudit.AuditClient{Netlink: &slowKernel{delay: 1500 * time.Millisecond}}).GetStatus(); err == nil {
		t.Log("go-libaudit's GetStatus now waits 1.5 s for the status: readStatus may be redundant")
	}
	for _, tc := range []struct {
		name string
		k    *slowKernel
		wait time.Duration
		pid  uint32
		err  string
	}{
		{"late", &slowKernel{delay: 1500 * time.Millisecond}, 10 * time.Second, 4242, ""},
		{"stale answer first", &slowKernel{stale: true}, time.Second, 4242, ""},
		{"never", &slowKernel{delay: time.Hour}, 200 * time.Millisecond, 0, "no reply within 200ms"},
		{"refused", &slowKernel{errno: syscall.EPERM}, time.Second, 0, "operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := readStatus(&libaudit.AuditClient{Netlink: tc.k}, tc.wait)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err %v, want %q", err, tc.err)
				}
				if tc.k.errno != 0 && !errors.Is(err, tc.k.errno) {
					t.Errorf("err %v does not wrap %v", err, tc.k.errno)
				}
			case err != nil:
				t.Errorf("err %v", err)
			case st.PID != tc.pid:
				t.Errorf("pid %d, want %d (another request's answer?)", st.PID, tc.pid)
			}
		})
	}
}
