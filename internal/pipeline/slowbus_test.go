package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/testutil/privbus"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// TestPolicyForSlowBus: systemd answers a unit's properties only after 5 s
// (a real dbus-daemon; the stand-in manager delays them, as a systemd busy
// with a reload did in the VM under load). The bus's time running out must
// not leave the unit files after it none: a template instance whose
// template is on disk is read from the files (seen in 70-loop-kill:
// "configuration unknown" for tmpl70@bar.service moments after it was
// judged). A unit no file defines is not "unknown configuration": the
// suggestion says systemd did not answer within 2 s and that asking again
// may succeed, and apply says so (ErrNotRead), not ErrUnknown.
func TestPolicyForSlowBus(t *testing.T) {
	bus := privbus.Start(t)
	bus.SlowUnit("tmpl70@bar.service", 5*time.Second, nil)
	bus.SlowUnit("gone70.service", 5*time.Second, nil)
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitDir, "tmpl70@.service"), []byte("[Service]\nExecStart=/usr/local/bin/sysc 330\nSystemCallFilter=@system-service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := table(t)
	d := unitprops.NewDBus(unitprops.DBusOptions{Address: bus.Addr, Table: tb, CallTimeout: PropsTimeout, ManagerPID: -1})
	defer d.Close()
	props := unitprops.Chain{d, unitprops.NewFiles(tb, unitprops.FilesOptions{Root: root})}
	ctx := context.Background()

	start := time.Now()
	pol, _ := PolicyFor(ctx, props, "tmpl70@bar.service", "", -1)
	took := time.Since(start)
	if pol == nil || !pol.Known || !pol.AllowList || pol.Retry {
		t.Fatalf("tmpl70@bar.service after the bus timed out: policy %+v, want the template's allow-list from its file", pol)
	}
	if took > 2*PropsTimeout {
		t.Errorf("the look-up took %v", took)
	}

	pol, _ = PolicyFor(ctx, props, "gone70.service", "", -1)
	if pol == nil || pol.Known || !pol.Retry || pol.Sandbox == nil ||
		!strings.Contains(pol.Sandbox.Unknown, "systemd did not answer within 2s (properties of gone70.service)") {
		t.Fatalf("gone70.service: policy %+v (%+v), want not read now: systemd did not answer within 2s", pol, pol.Sandbox)
	}
	agg := suggest.NewAggregator(suggest.Limits{})
	agg.Add(suggest.Denial{Unit: "gone70.service", Arch: syscalls.ArchX86_64, Nr: 330, Syscall: "pkey_alloc", Action: "kill_process",
		Exe: "/usr/local/bin/sysc", Comm: "sysc", Time: time.Now(), Native: true})
	s := suggest.Compute(agg.Snapshot()[0], pol, suggest.Options{Table: tb})
	var buf bytes.Buffer
	if err := suggest.RenderJSON(&buf, []suggest.Suggestion{s}); err != nil {
		t.Fatal(err)
	}
	as, err := apply.Decode(&buf, "gone70.service", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply.Build(as, apply.Options{Table: tb})
	if !errors.Is(err, apply.ErrNotRead) || errors.Is(err, apply.ErrUnknown) || !strings.Contains(err.Error(), "did not answer within 2s") {
		t.Fatalf("apply: %v, want ErrNotRead saying systemd did not answer within 2s", err)
	}
	t.Logf("apply: %v", err)
}
