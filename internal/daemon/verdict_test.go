package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/testutil/nspawn"
)

// verdictCase is one unit of TestContainerVerdicts: a setting, the calls
// its program makes, and for each call the directive that must be among
// its verdict's deniers.
type verdictCase struct {
	name     string // unit is NAME.service, its binary /usr/local/bin/calls-NAME
	settings string
	calls    map[string]string // call -> directive expected among the deniers
	kind     string            // the verdict kind of the first call (all calls when single)
	// fix holds settings written by hand where the record cannot tell the
	// argument (the hint says how to find it): the proposal has none.
	fix string
}

var verdictCases = []verdictCase{
	{name: "filter", settings: "SystemCallFilter=@system-service", calls: map[string]string{"swapoff": "SystemCallFilter"}, kind: "filter"},
	{name: "mdwe", settings: "MemoryDenyWriteExecute=yes", calls: map[string]string{"mmap": "MemoryDenyWriteExecute"}, kind: "directive"},
	{name: "persona", settings: "LockPersonality=yes", calls: map[string]string{"personality": "LockPersonality"}, kind: "directive"},
	{name: "rt", settings: "RestrictRealtime=yes", calls: map[string]string{"sched_setscheduler": "RestrictRealtime"}, kind: "directive"},
	{name: "af", settings: "RestrictAddressFamilies=AF_INET AF_UNIX", calls: map[string]string{"socket": "RestrictAddressFamilies"}, kind: "directive", fix: "RestrictAddressFamilies=AF_NETLINK"},
	{name: "ns", settings: "RestrictNamespaces=yes", calls: map[string]string{"unshare": "RestrictNamespaces"}, kind: "directive", fix: "RestrictNamespaces=uts"},
	{name: "clock", settings: "ProtectClock=yes", calls: map[string]string{"adjtimex": "ProtectClock"}, kind: "directive"},
	{name: "hostname", settings: "ProtectHostname=yes", calls: map[string]string{"sethostname": "ProtectHostname"}, kind: "directive"},
	{name: "suid", settings: "RestrictSUIDSGID=yes", calls: map[string]string{"fchmodat": "RestrictSUIDSGID"}, kind: "directive"},
	{name: "klog", settings: "ProtectKernelLogs=yes", calls: map[string]string{"syslog": "ProtectKernelLogs"}, kind: "directive"},
	{name: "kmod", settings: "ProtectKernelModules=yes", calls: map[string]string{"init_module": "ProtectKernelModules"}, kind: "directive"},
	{name: "dev", settings: "PrivateDevices=yes", calls: map[string]string{"iopl": "PrivateDevices"}, kind: "directive"},
	{name: "tunables", settings: "ProtectKernelTunables=yes", calls: map[string]string{"_sysctl": "ProtectKernelTunables"}},
	// The hardening checklist of the common guides, combined.
	{name: "checklist", settings: `SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
MemoryDenyWriteExecute=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
ProtectClock=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
PrivateDevices=yes`, calls: map[string]string{
		"mmap": "MemoryDenyWriteExecute", "personality": "LockPersonality", "sched_setscheduler": "RestrictRealtime",
		"socket": "RestrictAddressFamilies", "unshare": "RestrictNamespaces", "adjtimex": "ProtectClock",
		"sethostname": "ProtectHostname", "fchmodat": "RestrictSUIDSGID", "syslog": "ProtectKernelLogs", "swapoff": "SystemCallFilter",
	}, fix: "RestrictAddressFamilies=AF_NETLINK\nRestrictNamespaces=uts"},
}

// TestContainerVerdicts: on a real systemd 252 (nspawn, with
// SYSTEMD_LOG_SECCOMP=1 so errno denials are logged), one unit per
// seccomp-backed directive plus the checklist unit make the calls their
// settings forbid, denied by the kernel for real. The verdict of every
// call is checked live (the daemon reads the container's own systemd over
// its bus, through the API) and in replay (the CLI's why, on the records
// read back over netlink, against the container's unit files); then the
// proposal, with the opt-ins, is installed as a drop-in, systemd reloaded,
// the unit started again, and it runs clean: no new record.
func TestContainerVerdicts(t *testing.T) {
	requireRoot(t)
	work := t.TempDir()
	cli, callsBin := buildTestBinaries(t)

	files := map[string]string{}
	allCalls := map[string]bool{}
	for _, vc := range verdictCases {
		var calls []string
		for c := range vc.calls {
			calls = append(calls, c)
			allCalls[c] = true
		}
		files["/etc/systemd/system/"+vc.name+".service"] = fmt.Sprintf("[Service]\nType=oneshot\nEnvironment=CALLS_OUT=/var/tmp/calls-%s.out\nExecStart=/usr/local/bin/calls-%s %s\n%s\n",
			vc.name, vc.name, strings.Join(calls, " "), vc.settings)
		files["/usr/local/bin/calls-"+vc.name] = string(callsBin)
	}
	var nspawnAllow []string
	for c := range allCalls {
		nspawnAllow = append(nspawnAllow, c)
	}
	c := nspawn.Boot(t, nspawn.Options{Files: files, Env: []string{"SYSTEMD_LOG_SECCOMP=1"}, SystemCallFilter: nspawnAllow})
	for _, vc := range verdictCases {
		if err := os.Chmod(filepath.Join(c.Root, "usr/local/bin/calls-"+vc.name), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// Every record of the test's binaries, read back over netlink, as
	// audit.log lines for the replay half. Other denials on the host are
	// left alone.
	var mu sync.Mutex
	var lines []string
	perExe := map[string]int{}
	src, err := auditstream.NewSource(auditstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	srcDone := make(chan error, 1)
	bar := newBarrier(src)
	go func() {
		srcDone <- src.Run(sctx, func(rec auditstream.Record, payload []byte) {
			bar.note(rec)
			if strings.HasPrefix(rec.Exe, "/usr/local/bin/calls-") {
				mu.Lock()
				lines = append(lines, "type=SECCOMP msg="+string(payload))
				perExe[rec.Exe]++
				mu.Unlock()
			}
		})
	}()
	defer func() { scancel(); <-srcDone }()
	waitSubscribed(t, src, srcDone)

	r := start(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runAll := func() {
		for _, vc := range verdictCases {
			_, _ = c.Run(ctx, "systemctl", "start", vc.name+".service") // the denied units fail
		}
	}
	waitRecords := func(want func(exe string, n int) bool) {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := true
			for _, vc := range verdictCases {
				ok = ok && want("/usr/local/bin/calls-"+vc.name, perExe["/usr/local/bin/calls-"+vc.name])
			}
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("records per binary: %v", perExe)
	}
	runAll()
	waitRecords(func(_ string, n int) bool { return n > 0 })
	// The daemon may lag the test's own reader: wait for its last unit.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(r.get(t, "/api/v1/denials?unit=checklist.service"), "swapoff") {
		time.Sleep(50 * time.Millisecond)
	}

	logFile := filepath.Join(work, "audit.log")
	mu.Lock()
	if err := os.WriteFile(logFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Unlock()
	if keep := os.Getenv("SECCOMPWATCH_KEEP_VERDICT_LOG"); keep != "" {
		// For the README's example (testdata/checklist.log): the records
		// as the kernel wrote them, and the container's unit files.
		data, _ := os.ReadFile(logFile)
		_ = os.WriteFile(keep, data, 0o644)
	}

	type jsonDenier struct{ Directive, Lift, NoLift string }
	type jsonLine struct {
		Syscalls []string
		Included bool
		Lifts    string
		Verdict  *struct {
			Kind    string
			Deniers []jsonDenier
		}
	}
	for _, vc := range verdictCases {
		unit := vc.name + ".service"
		t.Run(vc.name, func(t *testing.T) {
			// Live: the daemon asked the container's systemd.
			q := url.Values{"machine": {c.Machine}}
			var doc struct {
				Suggestions []struct {
					Mode     string
					Lines    []jsonLine
					NoChange []jsonLine `json:"no_change"`
					Warnings []string
				}
			}
			body := r.get(t, "/api/v1/suggestions/"+unit+"?"+q.Encode())
			if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Suggestions) != 1 {
				t.Fatalf("suggestion: %v %s", err, body)
			}
			s := doc.Suggestions[0]
			if s.Mode == "unknown" {
				t.Fatalf("the container unit's configuration is unknown: %q", s.Warnings)
			}
			for call, directive := range vc.calls {
				found := false
				for _, l := range append(s.Lines, s.NoChange...) {
					if l.Verdict == nil || !contains(l.Syscalls, call) {
						continue
					}
					for _, d := range l.Verdict.Deniers {
						found = found || d.Directive == directive
					}
					if len(vc.calls) == 1 && vc.kind != "" && l.Verdict.Kind != vc.kind {
						t.Errorf("%s: verdict %s, want %s", call, l.Verdict.Kind, vc.kind)
					}
					if l.Lifts == "" && directive != "SystemCallFilter" && l.Included {
						t.Errorf("%s: an active SystemCallFilter= line where %s denies", call, directive)
					}
				}
				if !found {
					t.Errorf("live: %s: %s not among the deniers: %s", call, directive, body)
				}
			}
			why := r.get(t, "/api/v1/suggestions/"+unit+"?format=why&"+q.Encode())
			if !strings.Contains(why, "verdict: ") {
				t.Errorf("why:\n%s", why)
			}

			// Replay: the CLI against the container's unit files.
			out, err := exec.Command(cli, "why", "--systemd.table=252", "--replay", logFile, "--root", c.Root, unit).CombinedOutput()
			if err != nil {
				t.Fatalf("why --replay: %v\n%s", err, out)
			}
			for call, directive := range vc.calls {
				sect := section(string(out), call)
				if !strings.Contains(sect, directive) || !strings.Contains(sect, "verdict: ") {
					t.Errorf("replay: %s: %s not named:\n%s", call, directive, out)
				}
			}
		})
	}
	if t.Failed() {
		return
	}

	// The event stream and /api/v1/denials carry the verdict once the
	// daemon judged the pair (off the record path): run two units again.
	for name, want := range map[string][3]string{
		"filter": {"filter", "SystemCallFilter", "/etc/systemd/system/filter.service:5"},
		"mdwe":   {"directive", "MemoryDenyWriteExecute", "/etc/systemd/system/mdwe.service:5"},
	} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, _ = c.Run(ctx, "systemctl", "start", name+".service")
			var doc struct {
				Denials []struct {
					Verdict *struct{ Kind, Directive, Source string }
				}
			}
			body := r.get(t, "/api/v1/denials?unit="+name+".service")
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range doc.Denials {
				found = found || (d.Verdict != nil && [3]string{d.Verdict.Kind, d.Verdict.Directive, d.Verdict.Source} == want)
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no event of %s.service with verdict %v:\n%s", name, want, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Close the loop: install each proposal with every opt-in it needs,
	// and the hand-written fixes the hints lead to; restart; no record.
	for _, vc := range verdictCases {
		unit := vc.name + ".service"
		q := url.Values{"machine": {c.Machine}, "format": {"dropin"}, "allow_risky": {"1"}}
		for _, d := range vc.calls {
			q.Add("allow", d)
		}
		for call := range vc.calls {
			q.Add("allow", call)
		}
		dropin := r.get(t, "/api/v1/suggestions/"+unit+"?"+q.Encode())
		if !strings.Contains(dropin, "\n[Service]\n") {
			t.Fatalf("%s: drop-in:\n%s", unit, dropin)
		}
		if vc.fix != "" {
			dropin += vc.fix + "\n"
		}
		if err := c.WriteFile("/etc/systemd/system/"+unit+".d/50-seccompwatch.conf", dropin); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.Run(ctx, "systemctl", "daemon-reload"); err != nil {
		t.Fatalf("daemon-reload: %v %s", err, out)
	}
	mu.Lock()
	before := map[string]int{}
	for k, v := range perExe {
		before[k] = v
	}
	mu.Unlock()
	for _, vc := range verdictCases {
		_ = os.Remove(filepath.Join(c.Root, "var/tmp/calls-"+vc.name+".out"))
	}
	runAll()
	// Each oneshot unit finished before systemctl start returned: a
	// record it made is queued before the barrier's.
	bar.wait(t)
	mu.Lock()
	defer mu.Unlock()
	for _, vc := range verdictCases {
		exe := "/usr/local/bin/calls-" + vc.name
		if n := perExe[exe] - before[exe]; n != 0 {
			t.Errorf("%s: %d new records after the fix", vc.name, n)
		}
		// The unit ran to its end with the drop-in (a drop-in systemd
		// refused would also leave no record).
		out, err := os.ReadFile(filepath.Join(c.Root, "var/tmp/calls-"+vc.name+".out"))
		if err != nil || strings.Count(string(out), "\n") != len(vc.calls) {
			t.Errorf("%s did not run to its end after the fix: %v %q", vc.name, err, out)
		}
		t.Logf("%s after the fix: %s", vc.name, strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", ", "))
	}
}

// section returns the part of why's output about one call.
func section(out, call string) string {
	for _, part := range strings.Split(out, "\n\n") {
		if strings.HasPrefix(part, call+" ") || strings.HasPrefix(part, call+":") {
			return part
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
