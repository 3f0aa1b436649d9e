package observe

import (
	"bufio"
	"context"
	"fmt"
	"github.com/seccompwatch/seccompwatch/internal/testutil/bpfids"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// helperEnv makes the test binary an observer process for the cleanup
// tests: it loads, prints its kernel ids, and waits for SIGINT (then
// closes, as learn does when interrupted) or SIGKILL.
const helperEnv = "OBSERVE_CLEANUP_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper())
	}
	if dir := os.Getenv(cgnsHelperEnv); dir != "" {
		os.Exit(cgnsHelper(dir))
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

// gone waits until the kernel's own listing (BPF_*_GET_FD_BY_ID, what
// bpftool uses) has none of the ids; the kernel frees them after an RCU
// grace period.
func gone(t *testing.T, ids bpfids.IDs) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := bpfids.InKernel(t, ids)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still in the kernel: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func idsOf(t *testing.T, ob *Observer) bpfids.IDs {
	t.Helper()
	p, l, ms, err := ob.IDs()
	if err != nil {
		t.Fatal(err)
	}
	return bpfids.IDs{Prog: p, Link: l, Maps: ms}
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
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(ids.Prog)); err != nil {
			t.Fatalf("program %d not listed while loaded: %v", ids.Prog, err)
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
			var ids bpfids.IDs
			f := strings.Fields(line)
			if len(f) < 4 || f[0] != "ids" {
				t.Fatalf("helper said %q", line)
			}
			fmt.Sscan(f[1], &ids.Prog)
			fmt.Sscan(f[2], &ids.Link)
			for _, s := range f[3:] {
				var id uint32
				fmt.Sscan(s, &id)
				ids.Maps = append(ids.Maps, id)
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
