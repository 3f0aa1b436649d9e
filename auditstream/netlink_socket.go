//go:build linux

package auditstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// nlSocket is a NETLINK_AUDIT socket this package opens and binds itself.
//
// Why not go-libaudit's own client for the read side: its NetlinkClient keeps
// the socket fd in an unexported field, offers no way to size the receive
// buffer (SO_RCVBUFFORCE/SO_RCVBUF), uses Recvfrom (one allocation per
// datagram) and has no way to wake a blocked receive when ctx is cancelled.
// Reading the unexported fd with reflect would tie us to go-libaudit's
// internals. Instead nlSocket implements go-libaudit's exported
// NetlinkSendReceiver interface, so a libaudit.AuditClient can be built on
// top of it: go-libaudit still speaks the audit control protocol (the
// AUDIT_SET that registers the audit pid is sent from this very socket,
// which is what makes the kernel deliver unicast records to it), and we
// keep the fd for sizing, polling and zero-allocation reads.
type nlSocket struct {
	fd     int
	portID uint32
	seq    atomic.Uint32

	// rbuf serves Receive (go-libaudit's request/reply path only).
	rbuf []byte
	// stash keeps unsolicited kernel records (seq 0) that arrive while
	// go-libaudit waits for a reply on this socket, so that the read loop
	// still sees them (go-libaudit's getReply skips them).
	stash [][]byte

	sa    unix.RawSockaddrNetlink
	salen uint32
}

// recvBufSize is the read buffer: MAX_AUDIT_MESSAGE_LENGTH (8970) plus
// header, rounded up generously.
const recvBufSize = 64 << 10

// openSocket opens a NETLINK_AUDIT socket, sizes its receive buffer (want
// bytes; 0 keeps the kernel default) and binds it to groups (0 for a
// unicast/control socket, 1 = AUDIT_NLGRP_READLOG for the multicast log).
// It returns the receive buffer size the kernel reports (SO_RCVBUF, which
// the kernel doubles for bookkeeping) and whether SO_RCVBUFFORCE was used.
func openSocket(groups uint32, want int) (*nlSocket, int, bool, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, 0, false, fmt.Errorf("auditstream: audit netlink not supported by the kernel: %w", err)
		}
		return nil, 0, false, fmt.Errorf("auditstream: open audit netlink socket: %w", err)
	}
	s := &nlSocket{fd: fd}
	forced := false
	if want > 0 {
		// SO_RCVBUFFORCE needs CAP_NET_ADMIN and ignores rmem_max;
		// SO_RCVBUF is clamped by the kernel to net.core.rmem_max.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want); err == nil {
			forced = true
		} else if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, want); err != nil {
			_ = unix.Close(fd)
			return nil, 0, false, fmt.Errorf("auditstream: set receive buffer: %w", err)
		}
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		_ = unix.Close(fd)
		return nil, 0, false, fmt.Errorf("auditstream: read receive buffer size: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			return nil, 0, false, fmt.Errorf("auditstream: bind audit netlink socket (groups %d; multicast needs CAP_AUDIT_READ): %w", groups, errors.Join(ErrPermission, err))
		}
		return nil, 0, false, fmt.Errorf("auditstream: bind audit netlink socket: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, 0, false, fmt.Errorf("auditstream: getsockname: %w", err)
	}
	if nl, ok := sa.(*unix.SockaddrNetlink); ok {
		s.portID = nl.Pid
	}
	return s, got, forced, nil
}

// recv reads one datagram without blocking and without allocating. It
// returns the datagram's length and the sender's port id (0 = the kernel).
func (s *nlSocket) recv(buf []byte) (int, uint32, error) {
	s.salen = unix.SizeofSockaddrNetlink
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&s.sa)), uintptr(unsafe.Pointer(&s.salen)))
	if e != 0 {
		return 0, 0, e
	}
	return int(n), s.sa.Pid, nil
}

// recvSlot is the room for one datagram in a recvBatch: the kernel's
// MAX_AUDIT_MESSAGE_LENGTH (8970) is what it formats a record into, with
// room to spare; a longer datagram is cut and flagged MSG_TRUNC.
const recvSlot = 16 << 10

// recvBatchLen is how many datagrams one recvmmsg call reads at most: in a
// storm the syscall's own cost (entry, file look-up, exit) is shared by as
// many records. The slots are virtual memory until a datagram lands in
// one: a record of a few hundred bytes touches one page of its slot.
const recvBatchLen = 32

// recvBatch is the reusable state of recvmmsg(2): one message header, one
// iovec, one sender address and one slot per datagram.
type recvBatch struct {
	buf   []byte
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
}

func newRecvBatch(n int) *recvBatch {
	b := &recvBatch{
		buf:   make([]byte, n*recvSlot),
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrNetlink, n),
	}
	for i := range b.hdrs {
		b.iovs[i].Base = &b.buf[i*recvSlot]
		b.iovs[i].SetLen(recvSlot)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

// datagram returns the i-th datagram of the last recvMany, its sender's
// port id (0 = the kernel) and whether the kernel cut it to fit the slot.
func (b *recvBatch) datagram(i int) ([]byte, uint32, bool) {
	h := &b.hdrs[i]
	return b.buf[i*recvSlot : i*recvSlot+int(h.Len)], b.names[i].Pid, h.Hdr.Flags&unix.MSG_TRUNC != 0
}

// recvMany reads up to len(b.hdrs) datagrams with one recvmmsg(2) call,
// without blocking and without allocating, and returns how many it read.
// An error the kernel meets after the first datagram (ENOBUFS: the socket
// overflowed) is kept on the socket and returned by the next call, so no
// overflow goes uncounted.
func (s *nlSocket) recvMany(b *recvBatch) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
		b.hdrs[i].Hdr.Flags = 0
		b.hdrs[i].Len = 0
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd),
		uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Close closes the socket.
func (s *nlSocket) Close() error { return unix.Close(s.fd) }

// Send implements libaudit.NetlinkSender.
func (s *nlSocket) Send(msg syscall.NetlinkMessage) (uint32, error) { return s.send(msg, 0) }

// SendNoWait implements libaudit.NetlinkSender.
func (s *nlSocket) SendNoWait(msg syscall.NetlinkMessage) (uint32, error) {
	return s.send(msg, unix.MSG_DONTWAIT)
}

func (s *nlSocket) send(msg syscall.NetlinkMessage, flags int) (uint32, error) {
	seq := s.seq.Add(1)
	b := make([]byte, unix.NLMSG_HDRLEN+len(msg.Data))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], msg.Header.Type)
	binary.NativeEndian.PutUint16(b[6:8], msg.Header.Flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	pid := msg.Header.Pid
	if pid == 0 {
		pid = s.portID
	}
	binary.NativeEndian.PutUint32(b[12:16], pid)
	copy(b[unix.NLMSG_HDRLEN:], msg.Data)
	for {
		err := unix.Sendto(s.fd, b, flags, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return seq, err
	}
}

// Receive implements libaudit.NetlinkReceiver for go-libaudit's
// request/reply path. Unsolicited kernel records (sequence 0, not an
// error/ack) are copied to the stash for the read loop.
func (s *nlSocket) Receive(nonBlocking bool, p libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	if s.rbuf == nil {
		s.rbuf = make([]byte, recvBufSize)
	}
	for {
		n, from, err := s.recv(s.rbuf)
		if errors.Is(err, unix.EAGAIN) && !nonBlocking {
			if _, err := unix.Poll([]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}, 1000); err != nil && !errors.Is(err, unix.EINTR) {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if from != 0 || n < unix.NLMSG_HDRLEN {
			continue // not from the kernel, or not a netlink message
		}
		d := s.rbuf[:n]
		typ := binary.NativeEndian.Uint16(d[4:6])
		seq := binary.NativeEndian.Uint32(d[8:12])
		if seq == 0 && typ != unix.NLMSG_ERROR && typ != unix.NLMSG_DONE {
			s.stash = append(s.stash, append([]byte(nil), d...))
		}
		return p(d)
	}
}

// setStatusPIDZero asks the kernel to forget the audit daemon registration
// of this process (AUDIT_SET, mask AUDIT_STATUS_PID, pid 0) and waits for
// the acknowledgement. go-libaudit only does this from Close of the client
// that registered, which would close the read socket under the read loop.
func setStatusPIDZero(c *libaudit.AuditClient) error {
	st := libaudit.AuditStatus{Mask: libaudit.AuditStatusPID}
	data := make([]byte, int(unsafe.Sizeof(st)))
	if _, err := binary.Encode(data, binary.NativeEndian, st); err != nil {
		return err
	}
	seq, err := c.Netlink.Send(syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: libaudit.AuditSet, Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK},
		Data:   data,
	})
	if err != nil {
		return err
	}
	for range 50 {
		msgs, err := c.Netlink.Receive(true, parseOne)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		if len(msgs) == 0 || msgs[0].Header.Seq != seq {
			continue
		}
		if msgs[0].Header.Type != unix.NLMSG_ERROR {
			return fmt.Errorf("unexpected reply type %d", msgs[0].Header.Type)
		}
		return libaudit.ParseNetlinkError(msgs[0].Data)
	}
	return errors.New("no acknowledgement")
}

// parseOne splits an audit netlink datagram into its header and the rest
// (kernel-sent audit messages have an nlmsg_len that excludes the header, so
// the length field is not trusted).
func parseOne(b []byte) ([]syscall.NetlinkMessage, error) {
	if len(b) < unix.NLMSG_HDRLEN {
		return nil, syscall.EINVAL
	}
	return []syscall.NetlinkMessage{{
		Header: syscall.NlMsghdr{
			Len:   binary.NativeEndian.Uint32(b[0:4]),
			Type:  binary.NativeEndian.Uint16(b[4:6]),
			Flags: binary.NativeEndian.Uint16(b[6:8]),
			Seq:   binary.NativeEndian.Uint32(b[8:12]),
			Pid:   binary.NativeEndian.Uint32(b[12:16]),
		},
		Data: b[unix.NLMSG_HDRLEN:],
	}}, nil
}
