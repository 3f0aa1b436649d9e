package suggest

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seccompwatch/seccompwatch/sandbox"
)

// checklist is the hardening checklist of the common guides, as a sandbox
// read from one unit file.
func checklist(t *testing.T) *Policy {
	t.Helper()
	tb := testTable(t)
	sb := &sandbox.Sandbox{Known: true}
	lines := []string{
		"SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM", "SystemCallArchitectures=native",
		"MemoryDenyWriteExecute=yes", "LockPersonality=yes", "RestrictRealtime=yes", "RestrictSUIDSGID=yes",
		"ProtectClock=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectHostname=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes", "PrivateDevices=yes",
	}
	for i, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		src := sandbox.Source{File: "/etc/systemd/system/app.service", Line: i + 3}
		if k == "SystemCallFilter" {
			sb.Filter.Assign(v, src, tb, true)
			continue
		}
		sb.Assign(k, v, src)
	}
	return &Policy{Known: true, AllowList: true, Names: sb.Filter.List(), HasErrorNumber: true, ErrorNumber: 1,
		Architectures: []string{"native"}, ExecPaths: []string{"/usr/sbin/app"}, Sandbox: sb}
}

// TestComputeVerdicts: each denial of the checklist unit gets the change
// of the setting that denied it, never a SystemCallFilter= line that
// cannot lift it, and nothing deliberate without its own opt-in.
func TestComputeVerdicts(t *testing.T) {
	u := "app.service"
	denials := []Denial{
		den(u, "mmap", "errno"), den(u, "personality", "errno"), den(u, "socket", "errno"),
		den(u, "clock_settime", "errno"), den(u, "swapoff", "errno"), den(u, "sethostname", "errno"),
		den(u, "clone3", "errno"), den(u, "chmod", "errno"),
	}
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"no opt-in", Options{}, []string{
			"#RestrictSUIDSGID=no", "#SystemCallFilter=clock_settime", "#ProtectClock=no", "#MemoryDenyWriteExecute=no",
			"#LockPersonality=no", "#SystemCallFilter=sethostname", "#ProtectHostname=no", "#", "#SystemCallFilter=swapoff", "=clone3",
		}},
		{"one directive", Options{Allow: map[string]bool{"MemoryDenyWriteExecute": true}}, []string{
			"#RestrictSUIDSGID=no", "#SystemCallFilter=clock_settime", "#ProtectClock=no", "+MemoryDenyWriteExecute=no",
			"#LockPersonality=no", "#SystemCallFilter=sethostname", "#ProtectHostname=no", "#", "#SystemCallFilter=swapoff", "=clone3",
		}},
		// clock_settime needs both: the filter line (risky) and ProtectClock=no.
		{"risky without the directive", Options{AllowRisky: true}, []string{
			"#RestrictSUIDSGID=no", "#SystemCallFilter=clock_settime", "#ProtectClock=no", "#MemoryDenyWriteExecute=no",
			"#LockPersonality=no", "#SystemCallFilter=sethostname", "#ProtectHostname=no", "#", "+SystemCallFilter=swapoff", "=clone3",
		}},
		{"both opt-ins", Options{AllowRisky: true, Allow: map[string]bool{"ProtectClock": true}}, []string{
			"#RestrictSUIDSGID=no", "+SystemCallFilter=clock_settime", "+ProtectClock=no", "#MemoryDenyWriteExecute=no",
			"#LockPersonality=no", "#SystemCallFilter=sethostname", "#ProtectHostname=no", "#", "+SystemCallFilter=swapoff", "=clone3",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Table = testTable(t)
			s := Compute(aggregate(t, denials...), checklist(t), tc.opts)
			if d := cmp.Diff(tc.want, summary(s)); d != "" {
				t.Errorf("lines (-want +got):\n%s", d)
			}
			byCall := map[string]Line{}
			for _, l := range append(append([]Line(nil), s.Lines...), s.NoChange...) {
				for _, c := range l.Syscalls {
					if _, ok := byCall[c]; !ok || l.Lifts != "" {
						byCall[c] = l
					}
				}
			}
			if l := byCall["clone3"]; l.Verdict == nil || l.Verdict.Kind != sandbox.KindBenign {
				t.Errorf("clone3: %+v, want benign", l)
			}
			if l := byCall["socket"]; l.Lifts != "RestrictAddressFamilies" || l.Set != "" || !strings.Contains(l.Reason, "strace") {
				t.Errorf("socket: %+v, want RestrictAddressFamilies with how to find the family", l)
			}
			if l := byCall["mmap"]; !strings.Contains(l.Reason, "/etc/systemd/system/app.service:6") || !strings.Contains(l.Reason, "PROT_WRITE") {
				t.Errorf("mmap reason %q: want the source line and the argument", l.Reason)
			}
			var buf bytes.Buffer
			if err := RenderDropin(&buf, s); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if strings.HasPrefix(line, "SystemCallFilter=mmap") || strings.HasPrefix(line, "SystemCallFilter=socket") ||
					strings.HasPrefix(line, "SystemCallFilter=personality") {
					t.Errorf("a filter line that cannot lift the denial: %q", line)
				}
			}
			// What the drop-in really adds: the calls of active lines.
			var added []string
			for _, l := range s.Lines {
				if l.Included {
					added = mergeList(added, l.Syscalls)
				}
			}
			sort.Strings(added)
			if d := cmp.Diff(added, s.Added(), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Added() (-active lines +Added):\n%s", d)
			}
		})
	}
}
