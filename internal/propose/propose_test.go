package propose

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/observe"
	"github.com/seccompwatch/seccompwatch/internal/opensockets"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

var update = flag.Bool("update", false, "update golden files")

func table(t *testing.T) *syscalls.Table {
	t.Helper()
	tb, ok := syscalls.Bundled("252")
	if !ok {
		t.Fatal("no bundled 252 table")
	}
	return tb
}

// TestDecodedCoversRules: every call whose argument decides a directive's
// verdict (sandbox/directives.tsv, v252) is one the observer decodes, or
// is not an x86_64 call; so no argued directive is proposed on a call
// whose argument was never looked at.
func TestDecodedCoversRules(t *testing.T) {
	for _, r := range sandbox.Rules() {
		if !r.Holds(252) || r.Argument == "" {
			continue
		}
		for _, c := range expand(table(t), r.Calls) {
			if _, ok := syscalls.Number(syscalls.ArchX86_64, c); !ok {
				continue
			}
			if !slices.Contains(observe.Decoded, c) {
				t.Errorf("%s: %s's argument decides, and observe does not decode it", r.Directive, c)
			}
		}
	}
}

func TestCountedCalls(t *testing.T) {
	if d := CountedCalls(table(t), 0); !slices.Equal(d, CountedCalls(table(t), 252)) {
		t.Errorf("version 0 (unknown) counts %v, not the default version's calls", d)
	}
	got := CountedCalls(table(t), 252)
	for _, want := range []string{"sethostname", "setdomainname", "syslog", "adjtimex", "clock_settime", "init_module", "iopl", "ioperm", "_sysctl"} {
		if !slices.Contains(got, want) {
			t.Errorf("CountedCalls lacks %s: %v", want, got)
		}
	}
	for _, not := range []string{"clone3", "openat2", "socket", "mmap"} {
		if slices.Contains(got, not) {
			t.Errorf("CountedCalls has %s", not)
		}
	}
}

func quiet() observe.Observation {
	return observe.Observation{Calls: 1200000, Processes: 14, Syscalls: map[string][]string{
		"x86_64": {"accept4", "clone3", "close", "epoll_wait", "exit_group", "mmap", "openat", "read", "write"},
	}}
}

func lineOf(p Proposal, d string) Line {
	for _, l := range p.Lines {
		if l.Directive == d {
			return l
		}
	}
	return Line{}
}

func TestPropose(t *testing.T) {
	tb := table(t)
	ev := func(k observe.Kind, call string, v uint32, n uint64) observe.Event {
		return observe.Event{Kind: k, Syscall: call, Value: v, Count: n}
	}
	for _, tc := range []struct {
		name   string
		mod    func(*Input)
		dir    string
		value  string
		state  string // "", "skipped", "kept", "commented"
		inEvid string
	}{
		{"mdwe quiet", nil, "MemoryDenyWriteExecute", "yes", "", "no mmap with PROT_WRITE|PROT_EXEC"},
		{"mdwe seen wx", func(in *Input) { in.Obs.Events = []observe.Event{ev(observe.KindWriteExec, "mmap", 7, 3)} }, "MemoryDenyWriteExecute", "", "skipped", "mmap(0x7) 3×"},
		{"mdwe i386 mprotect", func(in *Input) { in.Obs.Syscalls["i386"] = []string{"mprotect"} }, "MemoryDenyWriteExecute", "", "skipped", "i386 calls whose arguments were not read: mprotect"},
		{"families none", func(in *Input) { in.Obs.Syscalls["x86_64"] = []string{"close", "read", "write"} }, "RestrictAddressFamilies", "none", "", "no socket() call seen"},
		// A running daemon made its sockets at start-up, before the window:
		// "none" would break its next start (seen with nginx in the VM).
		{"families in use, none made", nil, "RestrictAddressFamilies", "", "skipped", "sockets in use (accept4 seen"},
		{"families open", func(in *Input) {
			in.Open = &opensockets.Result{Families: map[uint32]uint64{2: 1, 10: 1, 1: 2}, Processes: 3}
		}, "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX", "", "no socket() call seen in 10 min (1.2 M calls from 14 processes); open sockets (made before the window, e.g. at start-up): AF_INET 1, AF_INET6 1, AF_UNIX 2"},
		{"families open and seen", func(in *Input) {
			in.Open = &opensockets.Result{Families: map[uint32]uint64{2: 1}}
			in.Obs.Events = []observe.Event{ev(observe.KindFamily, "socket", 16, 3)}
		}, "RestrictAddressFamilies", "AF_INET AF_NETLINK", "", "seen: AF_NETLINK 3× in 10 min (1.2 M calls from 14 processes); open sockets"},
		{"families open unread", func(in *Input) {
			in.Open = &opensockets.Result{Families: map[uint32]uint64{2: 1}, Unread: 1, Reason: "pidfd_getfd 7/3: operation not permitted"}
		}, "RestrictAddressFamilies", "", "skipped", "1 open socket(s) of the unit could not be read (pidfd_getfd"},
		{"families open unnamed", func(in *Input) { in.Open = &opensockets.Result{Families: map[uint32]uint64{99: 1}} }, "RestrictAddressFamilies", "", "skipped", "open socket of family 99"},
		{"families none open, none used", func(in *Input) {
			in.Obs.Syscalls["x86_64"] = []string{"close", "read"}
			in.Open = &opensockets.Result{Families: map[uint32]uint64{}}
		}, "RestrictAddressFamilies", "none", "", "and no open socket"},
		{"families seen", func(in *Input) {
			in.Obs.Events = []observe.Event{ev(observe.KindFamily, "socket", 16, 3), ev(observe.KindFamily, "socket", 1, 2)}
		}, "RestrictAddressFamilies", "AF_NETLINK AF_UNIX", "", "AF_NETLINK 3×, AF_UNIX 2×"},
		{"families unnamed", func(in *Input) { in.Obs.Events = []observe.Event{ev(observe.KindFamily, "socket", 99, 1)} }, "RestrictAddressFamilies", "", "skipped", "family 99"},
		{"namespaces yes, clone3 benign", nil, "RestrictNamespaces", "yes", "", "clone3 (seen) is answered ENOSYS"},
		{"namespaces types", func(in *Input) {
			in.Obs.Events = []observe.Event{ev(observe.KindNamespace, "unshare", 0x04000000, 1), ev(observe.KindNamespace, "clone3", 0x40000000, 1)}
		}, "RestrictNamespaces", "net uts", "", "unshare(0x4000000) 1×"},
		{"namespaces setns any", func(in *Input) { in.Obs.Events = []observe.Event{ev(observe.KindNamespace, "setns", 0, 1)} }, "RestrictNamespaces", "", "skipped", "nstype 0"},
		{"namespaces clone3 unreadable", func(in *Input) {
			in.Obs.Events = []observe.Event{ev(observe.KindNamespace, "clone3", observe.ValueUnreadable, 1)}
		}, "RestrictNamespaces", "", "skipped", "could not be read"},
		{"personality query only", func(in *Input) {
			in.Obs.Events = []observe.Event{ev(observe.KindPersonality, "personality", 0xffffffff, 4)}
		}, "LockPersonality", "yes", "", "no personality() change"},
		{"personality change", func(in *Input) { in.Obs.Events = []observe.Event{ev(observe.KindPersonality, "personality", 8, 1)} }, "LockPersonality", "", "skipped", "personality(0x8)"},
		{"realtime batch ok", func(in *Input) {
			in.Obs.Events = []observe.Event{ev(observe.KindScheduler, "sched_setscheduler", 3, 1)}
		}, "RestrictRealtime", "yes", "", "no sched_setscheduler"},
		{"realtime fifo", func(in *Input) {
			in.Obs.Events = []observe.Event{ev(observe.KindScheduler, "sched_setscheduler", 1, 1)}
		}, "RestrictRealtime", "", "skipped", "policy 0x1"},
		{"suid seen", func(in *Input) { in.Obs.Events = []observe.Event{ev(observe.KindSUIDSGID, "fchmodat", 0o4000, 1)} }, "RestrictSUIDSGID", "", "skipped", "mode 04000"},
		{"suid kept from DynamicUser", func(in *Input) {
			in.Sandbox.Set("DynamicUser", "yes", sandbox.Source{File: "/x.service", Line: 3})
			in.Sandbox.Resolve()
		}, "RestrictSUIDSGID", "yes", "kept", "forced by DynamicUser=yes"},
		{"clock commented", nil, "ProtectClock", "yes", "commented", "none of adjtimex"},
		{"clock seen", func(in *Input) {
			in.Obs.Syscalls["x86_64"] = append(in.Obs.Syscalls["x86_64"], "clock_adjtime")
			in.Obs.Events = []observe.Event{ev(observe.KindCall, "clock_adjtime", 0, 2)}
		}, "ProtectClock", "", "skipped", "clock_adjtime 2×"},
		// chronyd's ProtectClock=no, written by apply after its clock_adjtime
		// was denied, is not proposed back (a 15 s window in the VM saw no
		// clock call and proposed ProtectClock=yes).
		{"clock lifted by apply", func(in *Input) {
			in.Lifted = map[string]string{"ProtectClock": "lifted by seccompwatch apply (50-seccompwatch.conf) after a denial of clock_adjtime"}
		}, "ProtectClock", "no", "kept", "after a denial of clock_adjtime; kept"},
		{"modules commented", nil, "ProtectKernelModules", "yes", "commented", "none of"},
		{"arch native", nil, "SystemCallArchitectures", "native", "", "only native calls"},
		{"arch i386 seen", func(in *Input) { in.Obs.Syscalls["i386"] = []string{"getpid"} }, "SystemCallArchitectures", "", "skipped", "i386 calls were seen (getpid)"},
		{"arch x32 seen", func(in *Input) { in.Obs.Syscalls["x32"] = []string{"read"} }, "SystemCallArchitectures", "", "skipped", "x32 calls were seen (read)"},
		{"filter group", nil, "SystemCallFilter", "@system-service", "", "is in it"},
		{"filter tight", func(in *Input) { in.Granularity = GranularitySyscall }, "SystemCallFilter", "accept4 clone3 close epoll_wait exit_group mmap openat read write", "", "exactly the 9 calls"},
		{"filter unnamed", func(in *Input) { in.Obs.Syscalls["x86_64"] = append(in.Obs.Syscalls["x86_64"], "nr:999") }, "SystemCallFilter", "", "skipped", "nr:999"},
		{"filter kept", func(in *Input) {
			in.Sandbox.Filter.Assign("@system-service", sandbox.Source{File: "/x.service", Line: 2}, tb, true)
		}, "SystemCallFilter", "", "kept", "every call seen"},
		{"mdwe kept", func(in *Input) {
			in.Sandbox.Set("MemoryDenyWriteExecute", "yes", sandbox.Source{File: "/x.service", Line: 4})
		}, "MemoryDenyWriteExecute", "yes", "kept", "/x.service:4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Unit: "x.service", Window: 10 * time.Minute, Obs: quiet(), Table: tb, Sandbox: sandbox.Sandbox{Known: true}}
			if tc.mod != nil {
				tc.mod(&in)
			}
			l := lineOf(Propose(in), tc.dir)
			state := ""
			switch {
			case l.Skipped:
				state = "skipped"
			case l.Kept:
				state = "kept"
			case l.Commented:
				state = "commented"
			}
			if state != tc.state || (tc.value != "" && l.Value != tc.value) || !strings.Contains(l.Evidence, tc.inEvid) {
				t.Errorf("%s: got %+v; want state %q value %q evidence with %q", tc.dir, l, tc.state, tc.value, tc.inEvid)
			}
		})
	}
}

// TestFilterExtra: calls outside @system-service get their own line,
// risky ones a note; nothing seen is left out.
func TestFilterExtra(t *testing.T) {
	in := Input{Unit: "x.service", Window: time.Minute, Obs: quiet(), Table: table(t), Sandbox: sandbox.Sandbox{Known: true}}
	in.Obs.Syscalls["x86_64"] = append(in.Obs.Syscalls["x86_64"], "mount", "clock_adjtime")
	p := Propose(in)
	var extra *Line
	for i, l := range p.Lines {
		if l.Directive == "SystemCallFilter" && l.Value != "@system-service" {
			extra = &p.Lines[i]
		}
	}
	if extra == nil || extra.Value != "clock_adjtime mount" || !strings.Contains(extra.Note, "mount is in @mount") {
		t.Fatalf("extra filter line = %+v", extra)
	}
}

func TestRenderGolden(t *testing.T) {
	in := Input{Unit: "nginx.service", Window: 10 * time.Minute, Obs: quiet(), Table: table(t), Sandbox: sandbox.Sandbox{Known: true}}
	in.Obs.Events = []observe.Event{{Kind: observe.KindFamily, Syscall: "socket", Value: 2, Count: 3}, {Kind: observe.KindFamily, Syscall: "socket", Value: 16, Count: 1}}
	var buf bytes.Buffer
	if err := Propose(in).Render(&buf, "seccompwatch learn"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "nginx.golden.conf")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if buf.String() != string(want) {
		t.Errorf("render differs from %s (run with -update):\n%s", golden, buf.String())
	}
}
