// Command storm is the denial-storm benchmark's workload and receiver.
//
//	storm work -procs 2 -duration 5s     # N processes making denied errno+log calls
//	storm receive -mode multicast -ready F # an auditstream.Source that counts them
//	storm floor -ready F [-batch 32]       # the cheapest multicast reader
//
// work re-executes itself N times; each child installs a seccomp filter
// (go-seccomp-bpf, SECCOMP_FILTER_FLAG_LOG so that errno denials are
// audited) that answers getpriority with EPERM, then calls it as fast as it
// can for the duration, counting its calls. It prints one JSON object:
// calls, seconds, calls_per_second.
//
// receive runs the live source until SIGINT/SIGTERM and then prints one
// JSON object with the SECCOMP records of the storm it received and the
// source's loss counters. It exists until `seccompwatch run` can play its
// part in bench/storm.sh.
//
// floor is the cheapest possible reader, the floor the daemon is measured
// against: one NETLINK_AUDIT socket joined to the multicast group with a
// 64 MiB receive buffer, a recv loop that counts SECCOMP messages (the
// netlink header's type, nothing parsed), and the ENOBUFS errors. With
// -batch N it reads with recvmmsg(2), up to N datagrams per call
// (MSG_WAITFORONE: it returns once one is there), as the daemon does: the
// honest floor for a batching reader, since recv's per-call cost is then
// shared by as many records.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/seccompwatch/seccompwatch/auditstream"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const childEnv = "STORM_CHILD_UNTIL"

func main() {
	if v, ok := os.LookupEnv(childEnv); ok {
		child(v)
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: storm work|receive|floor [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "work":
		err = work(os.Args[2:])
	case "receive":
		err = receive(os.Args[2:])
	case "floor":
		err = floor(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

type workResult struct {
	Procs          int     `json:"procs"`
	Calls          uint64  `json:"calls"`
	Seconds        float64 `json:"seconds"`
	CallsPerSecond float64 `json:"calls_per_second"`
}

func work(args []string) error {
	fs := flag.NewFlagSet("work", flag.ContinueOnError)
	procs := fs.Int("procs", 2, "processes making denied calls")
	dur := fs.Duration("duration", 5*time.Second, "how long they call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	until := start.Add(*dur)
	var mu sync.Mutex
	var total uint64
	var errs []error
	var wg sync.WaitGroup
	for range *procs {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), childEnv+"="+strconv.FormatInt(until.UnixNano(), 10))
		cmd.Stderr = os.Stderr
		wg.Go(func() {
			out, err := cmd.Output()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
			if err != nil {
				errs = append(errs, err)
			}
			total += n
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	secs := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(workResult{*procs, total, secs, float64(total) / secs})
}

// child installs the filter and calls getpriority until the deadline,
// then prints its count.
func child(untilNS string) {
	ns, err := strconv.ParseInt(untilNS, 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm child:", err)
		os.Exit(3)
	}
	until := time.Unix(0, ns)
	runtime.LockOSThread()
	err = seccomp.LoadFilter(seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync | seccomp.FilterFlagLog,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls:      []seccomp.SyscallGroup{{Names: []string{"getpriority"}, Action: seccomp.ActionErrno}},
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm child: load filter:", err)
		os.Exit(3)
	}
	var n uint64
	for {
		for range 256 {
			_, _, _ = unix.RawSyscall(unix.SYS_GETPRIORITY, 0, 0, 0)
		}
		n += 256
		if time.Now().After(until) {
			break
		}
	}
	fmt.Println(n)
}

type receiveResult struct {
	Mode             string            `json:"mode"`
	Received         uint64            `json:"received"`
	Seconds          float64           `json:"seconds"` // first to last storm record
	RecordsPerSecond float64           `json:"records_per_second"`
	Lost             map[string]uint64 `json:"lost"`
	PendingSerialGap uint64            `json:"pending_serial_gap"`
	KernelStatus     bool              `json:"kernel_status"`
	RcvBufBytes      int               `json:"rcvbuf_bytes"`
	Records          map[string]uint64 `json:"records"`
	ParseErrors      map[string]uint64 `json:"parse_errors"`
	// CPUSeconds is the receiver's own user+system CPU time (a figure that
	// holds up on a busy machine, unlike rates).
	CPUSeconds         float64 `json:"cpu_seconds"`
	CPUMicrosPerRecord float64 `json:"cpu_us_per_record"`
}

func receive(args []string) error {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	mode := fs.String("mode", auditstream.ModeMulticast, "multicast or unicast")
	rcvbuf := fs.Int("rcvbuf", 0, "receive buffer bytes (0: default)")
	backlog := fs.Uint("backlog-limit", 0, "unicast backlog_limit (0: default)")
	wait := fs.Int("backlog-wait-time", 0, "unicast backlog_wait_time in jiffies (0: keep the kernel's, -1: set 0, never block)")
	ready := fs.String("ready", "", "file to create once the source reads")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	src, err := auditstream.NewSource(auditstream.Options{
		Mode: *mode, RcvBufBytes: *rcvbuf, BacklogLimit: uint32(*backlog),
		BacklogWaitTime: int32(*wait), StatusInterval: time.Second, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			_ = src.Restore()
			panic(r)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var n uint64
	var first, last time.Time
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(r auditstream.Record, _ []byte) {
			if r.Syscall != unix.SYS_GETPRIORITY || r.Action != auditstream.ActionErrno {
				return
			}
			if n == 0 {
				first = time.Now()
			}
			n++
			last = time.Now()
		})
	}()
	for !src.Stats().Connected {
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o600); err != nil {
			return err
		}
	}
	if err := <-errc; err != nil {
		return err
	}
	st := src.Stats()
	res := receiveResult{
		Mode: *mode, Received: n, Lost: st.Lost, PendingSerialGap: st.PendingSerialGap,
		KernelStatus: st.KernelStatus, RcvBufBytes: st.RcvBufBytes, Records: st.Records, ParseErrors: st.ParseErrors,
	}
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err == nil {
		res.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		if n > 0 {
			res.CPUMicrosPerRecord = res.CPUSeconds * 1e6 / float64(n)
		}
	}
	if n > 1 {
		res.Seconds = last.Sub(first).Seconds()
		if res.Seconds > 0 {
			res.RecordsPerSecond = float64(n) / res.Seconds
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

type floorResult struct {
	Received           uint64  `json:"received"`
	ENOBUFS            uint64  `json:"enobufs"`
	RcvBufBytes        int     `json:"rcvbuf_bytes"`
	CPUSeconds         float64 `json:"cpu_seconds"`
	CPUMicrosPerRecord float64 `json:"cpu_us_per_record"`
}

// floor reads the audit multicast group until SIGINT/SIGTERM, counting
// SECCOMP messages.
func floor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	ready := fs.String("ready", "", "file to create once the socket reads")
	batch := fs.Int("batch", 1, "datagrams per receive call: 1 recvfrom(2), more recvmmsg(2)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *batch < 1 {
		return fmt.Errorf("-batch %d: at least 1", *batch)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const rcvbuf = 64 << 20
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
	}
	// wake up every 100 ms to see whether a signal asked to stop
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000}); err != nil {
		return err
	}
	const auditNlgrpReadlog = 1
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (auditNlgrpReadlog - 1)}); err != nil {
		return fmt.Errorf("join the audit multicast group: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o600); err != nil {
			return err
		}
	}
	var res floorResult
	res.RcvBufBytes, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if *batch > 1 {
		if err := floorBatch(ctx, fd, *batch, &res); err != nil {
			return err
		}
	}
	buf := make([]byte, 1<<16)
	for *batch == 1 && ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case err == unix.ENOBUFS:
			res.ENOBUFS++
			continue
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err != nil:
			return err
		}
		// one record per datagram; nlmsghdr: len u32, type u16
		if n >= unix.NLMSG_HDRLEN && buf[4] == 1326&0xff && buf[5] == 1326>>8 {
			res.Received++
		}
	}
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err == nil {
		res.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		if res.Received > 0 {
			res.CPUMicrosPerRecord = res.CPUSeconds * 1e6 / float64(res.Received)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// floorBatch is floor's loop with recvmmsg(2): n slots of 16 KiB (a
// kernel audit record is at most 8970 bytes), reused.
func floorBatch(ctx context.Context, fd, n int, res *floorResult) error {
	const slot = 16 << 10
	buf := make([]byte, n*slot)
	hdrs := make([]unix.Mmsghdr, n)
	iovs := make([]unix.Iovec, n)
	for i := range hdrs {
		iovs[i].Base = &buf[i*slot]
		iovs[i].SetLen(slot)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	for ctx.Err() == nil {
		got, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), unix.MSG_WAITFORONE, 0, 0)
		switch {
		case e == unix.ENOBUFS:
			res.ENOBUFS++
			continue
		case e == unix.EAGAIN || e == unix.EINTR:
			continue
		case e != 0:
			return e
		}
		for i := range int(got) {
			b := buf[i*slot:]
			// one record per datagram; nlmsghdr: len u32, type u16
			if hdrs[i].Len >= unix.NLMSG_HDRLEN && b[4] == 1326&0xff && b[5] == 1326>>8 {
				res.Received++
			}
		}
	}
	return nil
}
