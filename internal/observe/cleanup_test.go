package observe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// helperEnv makes the test binary an observer process for the cleanup
// tests: it loads, prints its kernel ids, and waits for SIGINT (then
// closes, as learn does when interrupted) or SIGKILL.
const helperEnv = "OBSERVE_CLEANUP_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper())
	}
	os.Exit(m.Run())
}

func helper() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ob, err := New(Options{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer ob.Close()
	p, l, ms, err := ob.IDs()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ids", p, l, strings.Trim(fmt.Sprint(ms), "[]"))
	<-ctx.Done()
	return 0
}

type kernelIDs struct {
	prog, link uint32
	maps       []uint32
}

// gone waits until the kernel's own listing (BPF_*_GET_FD_BY_ID, what
// bpftool uses) has none of the ids; the kernel frees them after an RCU
// grace period.
func gone(t *testing.T, ids kernelIDs) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(ids.prog)); err == nil {
			p.Close()
			left = append(left, fmt.Sprintf("program %d", ids.prog))
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("program %d: %v", ids.prog, err)
		}
		if l, err := link.NewFromID(link.ID(ids.link)); err == nil {
			l.Close()
			left = append(left, fmt.Sprintf("link %d", ids.link))
		}
		for _, id := range ids.maps {
			if m, err := ebpf.NewMapFromID(ebpf.MapID(id)); err == nil {
				m.Close()
				left = append(left, fmt.Sprintf("map %d", id))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still in the kernel: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func idsOf(t *testing.T, ob *Observer) kernelIDs {
	t.Helper()
	p, l, ms, err := ob.IDs()
	if err != nil {
		t.Fatal(err)
	}
	return kernelIDs{p, l, ms}
}

// TestCleanup: nothing of the observer stays in the kernel after Close,
// after an interrupt, or after its process was killed.
func TestCleanup(t *testing.T) {
	requireObserver(t)
	t.Run("close", func(t *testing.T) {
		ob, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids := idsOf(t, ob)
		// The ids are live before Close: the check below can fail.
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(ids.prog)); err != nil {
			t.Fatalf("program %d not listed while loaded: %v", ids.prog, err)
		} else {
			p.Close()
		}
		if err := ob.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ob.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		gone(t, ids)
	})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			var ids kernelIDs
			f := strings.Fields(line)
			if len(f) < 4 || f[0] != "ids" {
				t.Fatalf("helper said %q", line)
			}
			fmt.Sscan(f[1], &ids.prog)
			fmt.Sscan(f[2], &ids.link)
			for _, s := range f[3:] {
				var id uint32
				fmt.Sscan(s, &id)
				ids.maps = append(ids.maps, id)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			if sig == syscall.SIGINT && err != nil {
				t.Fatalf("helper after SIGINT: %v", err)
			}
			gone(t, ids)
		})
	}
}
