package opensockets

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// holder starts sleep holding files as fds 3...
func holder(t *testing.T, files ...*os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = files
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func socketFile(t *testing.T, domain, typ, proto int) *os.File {
	t.Helper()
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto) // only ExtraFiles reach the holders
	if err != nil {
		t.Fatalf("socket(%d): %v", domain, err)
	}
	f := os.NewFile(uintptr(fd), "socket")
	t.Cleanup(func() { f.Close() })
	return f
}

// TestInCgroup: the families of the sockets that processes in a real
// cgroup (and its descendant) hold, each socket once however many
// processes share it; a process outside the cgroup is not looked at.
func TestInCgroup(t *testing.T) {
	testutil.RequireRoot(t, "moves processes between cgroups and reads their descriptors (pidfd_getfd)")
	mount, err := observe.Cgroup2Mount()
	if err != nil {
		testutil.Unavailable(t, err.Error())
	}
	dirs, remove, err := denier.UnitCgroups(fmt.Sprintf("swsock-%d.slice", os.Getpid()), "holder.service")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	unit := ""
	for _, d := range dirs {
		if strings.HasPrefix(d, mount+"/") {
			unit = d
		}
	}
	if unit == "" {
		t.Fatalf("no cgroup2 directory among %v", dirs)
	}
	sub := filepath.Join(unit, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	u0, u1 := os.NewFile(uintptr(pair[0]), "u0"), os.NewFile(uintptr(pair[1]), "u1")
	defer u0.Close()
	defer u1.Close()
	nl := socketFile(t, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	pipeR, pipeW, err := os.Pipe() // not a socket: not counted
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()

	a := holder(t, lf, u0, pipeR)
	b := holder(t, lf, nl) // shares the listener
	outside := holder(t, socketFile(t, unix.AF_PACKET, unix.SOCK_DGRAM, 0))
	move := func(dir string, c *exec.Cmd) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(c.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	move(unit, a)
	move(sub, b)
	t.Cleanup(func() {
		_ = a.Process.Kill()
		_ = b.Process.Kill()
		_, _ = a.Process.Wait()
		_, _ = b.Process.Wait()
		_ = os.Remove(sub)
	})

	r, err := InCgroup(unit)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]uint64{unix.AF_INET: 1, unix.AF_UNIX: 1, unix.AF_NETLINK: 1}
	if fmt.Sprint(r.Families) != fmt.Sprint(want) || r.Processes != 2 || r.Unread != 0 {
		t.Fatalf("got %+v, want families %v from 2 processes (outside pid %d not looked at)", r, want, outside.Process.Pid)
	}
}
