package nspawn

import (
	"context"
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
