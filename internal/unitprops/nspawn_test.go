package unitprops

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seccompwatch/seccompwatch/internal/testutil/nspawn"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// containerUnits are written into the container; each is also read from
// disk by Files, and both answers must agree with what systemd says.
var containerUnits = map[string]string{
	"/etc/systemd/system/demo.service": `[Unit]
Description=seccompwatch demo

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=/bin/true
ExecStart=/bin/sleep 0
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
SystemCallLog=~@default
`,
	"/etc/systemd/system/demo.service.d/50-seccompwatch.conf": "[Service]\nSystemCallFilter=swapoff\n",
	"/etc/systemd/system/deny.service": `[Service]
ExecStart=/bin/sleep infinity
SystemCallFilter=~@mount @clock:EPERM
SystemCallFilter=~ptrace:EACCES
`,
	"/etc/systemd/system/deny.service.d/override.conf": "[Service]\nSystemCallFilter=mount\n",
	"/etc/systemd/system/reset.service": `[Service]
ExecStart=/bin/sleep infinity
SystemCallFilter=@system-service
SystemCallFilter=
SystemCallFilter=~@swap
SystemCallErrorNumber=kill
`,
	// The hardening checklist, with a drop-in that narrows and widens it,
	// and the parsing corners of SystemCallFilter= (systemd 252: a word
	// with :errno in an assignment without "~" is dropped whole; an
	// unknown name is dropped; "~name:errno" in an allow-list keeps the
	// call denied with that errno).
	"/etc/systemd/system/checklist.service": `[Service]
ExecStart=/bin/sleep infinity
SystemCallFilter=@system-service read:EPERM nosuchcall
SystemCallFilter=~mount:EACCES
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
MemoryDenyWriteExecute=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
ProtectClock=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectKernelTunables=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
PrivateDevices=yes
`,
	"/etc/systemd/system/checklist.service.d/10-net.conf": "[Service]\nSystemCallFilter=~@network-io\nRestrictAddressFamilies=~AF_INET6\nRestrictAddressFamilies=AF_NETLINK\nLockPersonality=no\n",
	"/etc/systemd/system/dyn.service":                     "[Service]\nExecStart=/bin/sleep infinity\nDynamicUser=yes\nRestrictNamespaces=net ipc\nRestrictAddressFamilies=~AF_PACKET\n",
	"/lib/systemd/system/tmpl@.service":                   "[Service]\nExecStart=/bin/sleep %i\nSystemCallFilter=@default\n",
	"/etc/systemd/system/tmpl@.service.d/10-tmpl.conf":    "[Service]\nSystemCallFilter=read\n",
	"/etc/systemd/system/tmpl@5.service.d/20-inst.conf":   "[Service]\nSystemCallFilter=write\n",
}

func TestDBusContainer(t *testing.T) {
	table, ok := syscalls.Bundled("252") // the container runs systemd 252
	if !ok {
		t.Fatal("no bundled systemd 252 table")
	}
	// probe.service denies every name of the table: what systemd reports
	// back is what its libseccomp knows. systemd drops the other names
	// (e.g. riscv_hwprobe, uretprobe with bookworm's libseccomp 2.5.4);
	// unit files cannot know that, so the comparison ignores them.
	all := map[string]bool{}
	for _, g := range table.GroupNames() {
		if g == "@known" { // every name of every arch: not used by the fixtures
			continue
		}
		for _, n := range table.Members(g) {
			all[n] = true
		}
	}
	files := map[string]string{"/etc/systemd/system/probe.service": "[Service]\nExecStart=/bin/true\nSystemCallFilter=~" + strings.Join(slices.Sorted(maps.Keys(all)), " ") + "\n"}
	maps.Copy(files, containerUnits)
	c := nspawn.Boot(t, nspawn.Options{
		Files: files,
		Env:   []string{"SYSTEMD_LOG_SECCOMP=1"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := NewDBus(DBusOptions{Address: c.BusAddress, Root: c.Root, Table: table})
	defer d.Close()
	unitFiles := NewFiles(table, FilesOptions{Root: c.Root})

	probe, err := d.Props(ctx, "probe.service")
	if err != nil || len(probe.Filter) < len(all)/2 {
		t.Fatalf("probe.service: %d names, %v", len(probe.Filter), err)
	}
	for _, n := range probe.Filter {
		delete(all, n)
	}
	unknown := all
	t.Logf("names the container's libseccomp does not know: %v", slices.Sorted(maps.Keys(unknown)))
	if len(unknown) > 10 {
		t.Fatalf("%d unknown names: the table does not match the container's systemd", len(unknown))
	}
	t.Run("ProbeFilter", func(t *testing.T) {
		// The transient probe of a group alone says the same: every
		// member systemd resolves, none it cannot; no process runs and
		// no unit stays.
		start := time.Now()
		got, err := ProbeFilter(ctx, c.BusAddress, []string{"@system-service", "pkey_alloc", "uretprobe"})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("probe answered in %v with %d names", time.Since(start).Round(time.Millisecond), len(got))
		for _, n := range append(table.Members("@system-service"), "pkey_alloc") {
			if got[n] == unknown[n] {
				t.Errorf("probe: %s resolved %v, but the container's systemd knows it: %v", n, got[n], !unknown[n])
			}
		}
		if !got["read"] || !got["pkey_alloc"] || got["uretprobe"] {
			t.Errorf("probe: read %v pkey_alloc %v uretprobe %v", got["read"], got["pkey_alloc"], got["uretprobe"])
		}
		var left string
		for range 50 {
			out, _ := c.Run(ctx, "systemctl", "list-units", "--all", "--no-legend", "seccompwatch-probe-*")
			if left = strings.TrimSpace(string(out)); left == "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if left != "" {
			t.Errorf("a probe unit stays: %s", left)
		}
		out, _ := c.Run(ctx, "journalctl", "--no-pager", "-o", "cat", "-u", "seccompwatch-probe-*")
		// systemd's own words for the name it cannot resolve, and for
		// the start that ran nothing.
		if !strings.Contains(string(out), "Failed to parse system call, ignoring: uretprobe") ||
			!strings.Contains(string(out), "skipped because of an unmet condition check") || strings.Contains(string(out), "Deactivated") {
			t.Errorf("the probe's journal: %s", out)
		}
	})
	known := func(names []string) []string {
		var out []string
		for _, n := range names {
			if !unknown[strings.SplitN(n, ":", 2)[0]] {
				out = append(out, n)
			}
		}
		return out
	}

	for _, unit := range []string{"demo.service", "deny.service", "reset.service", "tmpl@5.service", "tmpl@6.service", "checklist.service", "dyn.service"} {
		t.Run(unit, func(t *testing.T) {
			got, err := d.Props(ctx, unit)
			if err != nil {
				t.Fatalf("DBus.Props: %v", err)
			}
			if !got.Found || got.Source != SourceDBus || !got.ManagerLogSeccomp {
				t.Errorf("Found=%v Source=%q ManagerLogSeccomp=%v", got.Found, got.Source, got.ManagerLogSeccomp)
			}
			fromFiles, err := unitFiles.Props(ctx, unit)
			if err != nil {
				t.Fatalf("Files.Props: %v", err)
			}
			fromFiles.Filter, fromFiles.Log = known(fromFiles.Filter), known(fromFiles.Log)
			// Unit files and systemd must agree on everything both know.
			ign := cmpopts.IgnoreFields(Props{}, "Source", "ManagerLogSeccomp", "Sandbox")
			if d := cmp.Diff(fromFiles, got, ign, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("unit files vs systemd (-files +dbus):\n%s", d)
			}
			// The sandbox model: the same effective settings from both,
			// and systemd's values carry the files' lines as sources.
			fv, dv := sandboxValues(fromFiles.Sandbox, unknown), sandboxValues(got.Sandbox, unknown)
			if d := cmp.Diff(fv, dv); d != "" {
				t.Errorf("sandbox: unit files vs systemd (-files +dbus):\n%s", d)
			}
			if fs, ds := sandboxSources(fromFiles.Sandbox), sandboxSources(got.Sandbox); cmp.Diff(fs, ds) != "" {
				t.Errorf("sandbox sources: unit files vs systemd annotated (-files +dbus):\n%s", cmp.Diff(fs, ds))
			}
		})
	}

	// Hand-checked expectations, independent of the Files merge.
	demo, _ := d.Props(ctx, "demo.service")
	if !demo.AllowList || !demo.HasErrorNumber || demo.ErrorNumber != 1 ||
		!contains(demo.Filter, "swapoff") || contains(demo.Filter, "mount") ||
		demo.LogAllowList || !contains(demo.Log, "brk") {
		t.Errorf("demo.service = %+v", demo)
	}
	if demo.DropIns["/etc/systemd/system/demo.service.d/50-seccompwatch.conf"] != "[Service]\nSystemCallFilter=swapoff\n" {
		t.Errorf("demo drop-ins = %q", demo.DropIns)
	}
	deny, _ := d.Props(ctx, "deny.service")
	if deny.AllowList || contains(deny.Filter, "mount") || !contains(deny.Filter, "umount2") ||
		!contains(deny.Filter, "ptrace:EACCES") || !contains(deny.Filter, "clock_settime:EPERM") {
		t.Errorf("deny.service = %+v", deny)
	}
	missing, err := d.Props(ctx, "nosuch.service")
	if err != nil || missing.Found {
		t.Errorf("nosuch.service = %+v, %v", missing, err)
	}

	// A new drop-in and daemon-reload: the Reloading signal drops the
	// cache long before the TTL.
	if err := c.WriteFile("/etc/systemd/system/demo.service.d/60-more.conf", "[Service]\nSystemCallFilter=mount\n"); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Run(ctx, "systemctl", "daemon-reload"); err != nil {
		t.Fatalf("daemon-reload: %v: %s", err, out)
	}
	var after Props
	for i := 0; i < 100; i++ {
		after, err = d.Props(ctx, "demo.service")
		if err == nil && contains(after.Filter, "mount") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !contains(after.Filter, "mount") || len(after.DropInPaths) != 2 {
		t.Errorf("after daemon-reload: %+v, %v", after, err)
	}
}

func TestDBusContainerGoesAway(t *testing.T) {
	c := nspawn.Boot(t, nspawn.Options{})
	ctx := context.Background()
	d := NewDBus(DBusOptions{Address: c.BusAddress, Root: c.Root, MinBackoff: 50 * time.Millisecond})
	defer d.Close()
	p, err := d.Props(ctx, "dbus.service") // booted without SYSTEMD_LOG_SECCOMP
	if err != nil || !p.Found || p.ManagerLogSeccomp {
		t.Fatalf("Props = %+v, %v", p, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for i := 0; i < 100; i++ {
		d.Invalidate("")
		if _, lastErr = d.Props(ctx, "dbus.service"); lastErr != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastErr == nil {
		t.Fatal("no error after the container stopped")
	}
	t.Logf("after stop: %v", lastErr)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// sandboxValues flattens a sandbox's effective settings (not their
// sources) for comparison; names the container's libseccomp does not know
// are left out.
func sandboxValues(sb sandbox.Sandbox, unknown map[string]bool) map[string]string {
	out := map[string]string{"known": strconv.FormatBool(sb.Known), "errno": sb.ErrorNumber, "archs": sb.Architectures.Value}
	if sb.Filter.Set {
		out["mode"] = strconv.FormatBool(sb.Filter.AllowList)
	}
	var names []string
	for _, n := range sb.Filter.List() {
		if !unknown[strings.SplitN(n, ":", 2)[0]] {
			names = append(names, n)
		}
	}
	out["filter"] = strings.Join(names, " ")
	for k, v := range sb.Settings {
		out[k] = v.Value
	}
	return out
}

// sandboxSources lists where each directive and each deliberate filter
// entry was set.
func sandboxSources(sb sandbox.Sandbox) map[string]string {
	out := map[string]string{"errno": sb.ErrorNumberSource.String()}
	for k, v := range sb.Settings {
		out[k] = fmt.Sprint(v.Sources)
	}
	for n, src := range sb.Filter.Removed {
		out["removed "+n] = src.String()
	}
	return out
}

// TestServicesByMainPID: what systemd 252 keeps of a service's last main
// process, read over D-Bus (the daemon's ExecMainPID fallback). A main
// process killed by SIGSYS (sent by the shell itself here: the decoding is
// under test, not seccomp) is found by its pid with code killed/dumped,
// status 31 and an exit time; one that failed with an exit status is
// found with it; one that ended well (active, exited: RemainAfterExit=;
// an inactive one is unloaded and forgets) is asked only as a candidate; a
// running service is not asked; an unknown pid finds
// nothing. The pids are the container's, as its systemd reports them.
func TestServicesByMainPID(t *testing.T) {
	c := nspawn.Boot(t, nspawn.Options{Files: map[string]string{
		"/etc/systemd/system/sys.service":  "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'kill -SYS $$$$'\n",
		"/etc/systemd/system/ok.service":   "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 7'\n",
		"/etc/systemd/system/live.service": "[Service]\nExecStart=/bin/sleep infinity\n",
		"/etc/systemd/system/done.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, u := range []string{"sys.service", "ok.service", "live.service", "done.service"} {
		_, _ = c.Run(ctx, "systemctl", "start", u) // sys and ok fail
	}
	show := func(unit, prop string) int {
		out, err := c.Run(ctx, "systemctl", "show", "-P", prop, unit)
		if err != nil {
			t.Fatalf("systemctl show %s %s: %v: %s", prop, unit, err, out)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("%s of %s: %q", prop, unit, out)
		}
		return n
	}
	d := NewDBus(DBusOptions{Address: c.BusAddress, Root: c.Root})
	defer d.Close()
	before := time.Now().Add(-time.Minute)

	pid := show("sys.service", "ExecMainPID")
	got, err := d.ServicesByMainPID(ctx, pid, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("sys.service (pid %d): %+v, %v", pid, got, err)
	}
	if m := got[0]; m.Unit != "sys.service" || m.PID != pid || (m.Code != CLDKilled && m.Code != CLDDumped) || m.Status != 31 ||
		m.Exit.Before(before) || m.Exit.After(time.Now()) {
		t.Errorf("sys.service: %+v", m)
	}

	pid = show("ok.service", "ExecMainPID")
	got, err = d.ServicesByMainPID(ctx, pid, nil)
	if err != nil || len(got) != 1 || got[0].Unit != "ok.service" || got[0].Code != CLDExited || got[0].Status != 7 || got[0].Exit.IsZero() {
		t.Errorf("ok.service (pid %d): %+v, %v", pid, got, err)
	}

	pid = show("done.service", "ExecMainPID")
	if got, err = d.ServicesByMainPID(ctx, pid, nil); err != nil || len(got) != 0 {
		t.Errorf("done.service (exited, pid %d), not a candidate: %+v, %v", pid, got, err)
	}
	if got, err = d.ServicesByMainPID(ctx, pid, []string{"done.service"}); err != nil || len(got) != 1 || got[0].Code != CLDExited || got[0].Status != 0 {
		t.Errorf("done.service (exited, pid %d), a candidate: %+v, %v", pid, got, err)
	}
	pid = show("live.service", "MainPID")
	if got, err = d.ServicesByMainPID(ctx, pid, nil); err != nil || len(got) != 0 {
		t.Errorf("live.service (running, pid %d): %+v, %v", pid, got, err)
	}
	if got, err = d.ServicesByMainPID(ctx, 1<<22+1, nil); err != nil || len(got) != 0 {
		t.Errorf("an unknown pid: %+v, %v", got, err)
	}
}
