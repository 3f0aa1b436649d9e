package cli

import (
	"bytes"
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
