package nspawn

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBoot(t *testing.T) {
	c := Boot(t, Options{Files: map[string]string{"/etc/hello": "hi\n"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.Run(ctx, "cat", "/proc/1/comm")
	if err != nil || strings.TrimSpace(string(out)) != "systemd" {
		t.Fatalf("PID 1 comm = %q, %v", out, err)
	}
	out, err = c.Run(ctx, "cat", "/etc/hello")
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("file = %q, %v", out, err)
	}
	if _, err := os.Stat(strings.TrimPrefix(c.BusAddress, "unix:path=")); err != nil {
		t.Fatal(err)
	}
	// The container runs where machined would put it, and its PID 1 in
	// nspawn's payload below.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.Leader))
	if err != nil {
		t.Fatal(err)
	}
	want := "/machine.slice/" + ScopeName(c.Machine) + "/payload"
	if !strings.Contains(string(b), "0::"+want) {
		t.Errorf("container PID 1 cgroups:\n%s\nwant 0::%s...", b, want)
	}
	work, cg := c.work, c.Cgroup2
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{work, cg} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}
