package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil/nspawn"
)

// TestContainerUnit boots a real systemd in a container, lets a unit in it
// be killed by its own SystemCallFilter=, and checks that the daemon on the
// host attributes the denial to that unit — not to the container, not to
// the shell that started it — and names the container's machine.
func TestContainerUnit(t *testing.T) {
	requireRoot(t)
	c := nspawn.Boot(t, nspawn.Options{Files: map[string]string{
		"/etc/systemd/system/demo.service": "[Service]\nType=oneshot\nExecStart=/bin/uname -a\nSystemCallFilter=~uname\n",
	}})
	r := start(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The unit fails: uname(2) kills it with SIGSYS.
	if out, err := c.Run(ctx, "systemctl", "start", "demo.service"); err == nil {
		t.Fatalf("demo.service ran although its filter denies uname: %s", out)
	}
	r.waitMetric(t, `seccompwatch_denials_total{action="kill_process",arch="x86_64",machine="`+c.Machine+`",risky="false",syscall="uname",unit="demo.service"} 1`)
	// A container's unit never counts as the host's unit of that name.
	if m := grep(r.get(t, "/metrics"), `machine="",risky="false",syscall="uname",unit="demo.service"`); m != "" {
		t.Errorf("the container's denial counted for the host's demo.service:\n%s", m)
	}
	var doc struct {
		Denials []struct {
			Unit, Syscall, Comm, Exe, Attribution string
			Machine                               *string
		}
	}
	body := r.get(t, "/api/v1/denials?unit=demo.service")
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Denials) != 1 {
		t.Fatalf("denials: %v %s", err, body)
	}
	d := doc.Denials[0]
	if d.Machine == nil || *d.Machine != c.Machine || d.Comm != "uname" || !strings.HasSuffix(d.Exe, "/uname") || d.Attribution != "bpf" {
		t.Fatalf("denial %+v (machine %v), want machine %q, comm uname, attribution bpf", d, d.Machine, c.Machine)
	}

	// The suggestion is the machine's: found by ?machine=NAME, not as
	// the host's (.host).
	var sugg struct {
		Suggestions []struct{ Unit, Machine string }
	}
	body = r.get(t, "/api/v1/suggestions/demo.service?machine="+c.Machine)
	if err := json.Unmarshal([]byte(body), &sugg); err != nil || len(sugg.Suggestions) != 1 || sugg.Suggestions[0].Machine != c.Machine {
		t.Errorf("suggestion with ?machine=%s: %v %s", c.Machine, err, body)
	}
	resp, err := http.Get(r.url + "/api/v1/suggestions/demo.service?machine=.host")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("?machine=.host: %s, want 404 (demo.service runs only in the container)", resp.Status)
	}
}
