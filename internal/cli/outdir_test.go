package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// A machine name becomes a directory under --out-dir: one that is not a
// valid machine name is refused, never joined into a path.
func TestOutDirMachineName(t *testing.T) {
	table, _ := syscalls.Bundled("252")
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	for _, machine := range []string{"web", "../../escape", "a/b", "bad\nname"} {
		agg := suggest.NewAggregator(suggest.Limits{})
		agg.Add(suggest.Denial{Unit: "app.service", Machine: machine, Arch: syscalls.ArchX86_64, Nr: 41,
			Syscall: "socket", Action: "kill_process", Exe: "/usr/bin/app", Time: time.Unix(100, 0), Native: true})
		s := suggest.Compute(agg.Snapshot()[0], &suggest.Policy{Known: true, AllowList: true, Names: []string{"read"}}, suggest.Options{Table: table})
		var out, errb bytes.Buffer
		if err := writeOutDir(&env{stdout: &out, stderr: &errb}, []pipeline.Result{{Suggestion: s}}, dir); err != nil {
			t.Fatalf("%q: %v", machine, err)
		}
		wrote := strings.HasPrefix(out.String(), "wrote ")
		if wrote != (machine == "web") {
			t.Errorf("machine %q: stdout %q stderr %q", machine, out.String(), errb.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "machines/web/etc/systemd/system/app.service.d/50-seccompwatch.conf")); err != nil {
		t.Error(err)
	}
	var stray []string
	_ = filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(p, filepath.Join(dir, "machines/web")+"/") {
			stray = append(stray, p)
		}
		return nil
	})
	if len(stray) > 0 {
		t.Errorf("files written outside machines/web: %q", stray)
	}
}

// TestDiffAgreesWithOutDir: --format diff shows exactly the files --out-dir
// writes, and names the units it skips with the same reasons.
func TestDiffAgreesWithOutDir(t *testing.T) {
	dir := t.TempDir()
	base := []string{"suggest", "--replay", sample, "--root", root, "--systemd.table", "252"}
	code, _, outErrs := run(t, "", append(base, "--out-dir", dir)...)
	if code != 0 {
		t.Fatalf("--out-dir: exit %d %s", code, outErrs)
	}
	var written []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			written = append(written, "b/"+strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	code, diff, diffErrs := run(t, "", append(base, "--format", "diff")...)
	if code != 0 {
		t.Fatalf("--format diff: exit %d %s", code, diffErrs)
	}
	var shown []string
	for _, l := range strings.Split(diff, "\n") {
		if f, ok := strings.CutPrefix(l, "+++ "); ok {
			shown = append(shown, f)
		}
	}
	if len(written) == 0 || strings.Join(written, " ") != strings.Join(shown, " ") {
		t.Errorf("--out-dir wrote %q, --format diff shows %q", written, shown)
	}
	skips := func(s, prefix string) (out []string) {
		for _, l := range strings.Split(s, "\n") {
			if r, ok := strings.CutPrefix(l, prefix); ok {
				out = append(out, r)
			}
		}
		return out
	}
	if a, b := skips(outErrs, "not written: "), skips(diffErrs, "no diff: "); len(a) == 0 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("skipped: --out-dir %q, --format diff %q", a, b)
	}
}

// A unit whose files do not exist has an unknown configuration: its
// drop-in has nothing active, says so, and --out-dir writes nothing for it
// (before, it got "Install as …" and an active allow-list of one call).
func TestOutDirUnitWithoutFiles(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "", "suggest", "--replay", sample, "--root", root, "--systemd.table", "252", "--unit", "nosuch.service", "--out-dir", dir)
	if code != ExitOK || out != "" || !strings.Contains(errs, "not written: nosuch.service (nothing to install") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files written: %v", ents)
	}
	code, out, _ = run(t, "", "suggest", "--replay", sample, "--root", root, "--systemd.table", "252", "--unit", "nosuch.service")
	if code != ExitOK || strings.Contains(out, "Install as") || strings.Contains(out, "\nSystemCallFilter=") ||
		!strings.Contains(out, "no unit file of this name was found") {
		t.Errorf("drop-in of a unit without files:\n%s", out)
	}
}

// TestCentralLog: a central log (auditd's node= before type=) holds two
// hosts' records of the same unit: their suggestions stay apart (one per
// node, never a sum), --out-dir writes each under nodes/NODE/, and without
// a --root standing for those hosts their records are judged against no
// host's unit files (this host's are not theirs).
func TestCentralLog(t *testing.T) {
	const central = "testdata/central.log"
	base := []string{"suggest", "--replay", central, "--root", root, "--systemd.table", "252"}
	code, out, errs := run(t, "", base...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "suggest-nodes", out)

	code, out, errs = run(t, "", append(base, "--format", "json")...)
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errs)
	}
	var doc struct {
		Suggestions []struct {
			Unit  string
			Node  *string
			Total uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	totals := map[string]uint64{}
	for _, s := range doc.Suggestions {
		if s.Node == nil {
			t.Fatalf("suggestion of %s has no node", s.Unit)
		}
		totals[*s.Node+"/"+s.Unit] = s.Total
	}
	if totals["web1/nginx.service"] != 3 || totals["web2/nginx.service"] != 1 || len(totals) != 6 {
		t.Errorf("totals per node/unit: %v", totals)
	}

	dir := t.TempDir()
	if code, _, errs := run(t, "", append(base, "--out-dir", dir)...); code != 0 {
		t.Fatalf("--out-dir: exit %d %s", code, errs)
	}
	for _, n := range []string{"web1", "web2"} {
		if _, err := os.Stat(filepath.Join(dir, "nodes", n, "etc/systemd/system/nginx.service.d/50-seccompwatch.conf")); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "etc")); err == nil {
		t.Error("a node's drop-in was written outside nodes/")
	}

	// --root left at /: the records of web1 and web2 are not this host's.
	code, out, errs = run(t, "", "suggest", "--replay", central, "--unit", "nginx.service", "--systemd.table", "252", "--format", "json")
	if code != 0 {
		t.Fatalf("no --root: exit %d %s", code, errs)
	}
	if n := strings.Count(out, "whose unit files were not read"); n != 4 {
		t.Errorf("%d warnings about unread unit files, want 4 (one per node, in warnings and in the drop-in):\n%s", n, out)
	}
	if strings.Contains(out, `"included": true`) {
		t.Errorf("a line is active for a host whose configuration is unknown:\n%s", out)
	}
	code, out, _ = run(t, "", "replay", "--systemd.table", "252", "--output", "jsonl", central)
	if code != 0 || strings.Count(out, `"unit":"unknown"`) != 12 || strings.Count(out, `"node":"web1"`) != 11 || strings.Count(out, `"node":"web2"`) != 1 {
		t.Errorf("replay of another host's records without --root: exit %d\n%s", code, out)
	}
}
