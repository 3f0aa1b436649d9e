package unitprops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// trickyUnits are unit files whose seccomp settings systemd parses with
// warnings: each word it ignores must be one the sandbox model drops.
var trickyUnits = map[string]string{
	"errno-in-allow.service": "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service read:EPERM nosuchcall\nSystemCallFilter=~mount:EACCES\n",
	"families.service":       "[Service]\nExecStart=/bin/true\nRestrictAddressFamilies=AF_INET AF_BOGUS AF_UNIX\nRestrictAddressFamilies=~AF_NOPE\n",
	"booleans.service":       "[Service]\nExecStart=/bin/true\nLockPersonality=maybe\nMemoryDenyWriteExecute=yes\nProtectClock=0\nProtectHostname=private\n",
	"continued.service":      "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service \\\n  bogus1 \\\n# a comment inside\n  write\nSystemCallFilter=~@mount bogus2:EPERM\n",
}

var ignoringRE = regexp.MustCompile(`^(.*):(\d+): .*ignoring: (.*)$`)

// TestDroppedAsSystemdAnalyze: `systemd-analyze verify` (systemd's own
// parser, the host's systemd) names every word it ignores; the sandbox
// model drops the same words, from the same lines.
func TestDroppedAsSystemdAnalyze(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testutil.Unavailable(t, "systemd-analyze is not installed (Debian's systemd package)")
	}
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc/systemd/system")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	table, _ := syscalls.Bundled("252")
	f := NewFiles(table, FilesOptions{Root: dir})
	for name, body := range trickyUnits {
		path := filepath.Join(etc, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			out, _ := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
			// systemd names the last line of a continued assignment, the
			// model the first.
			lines := strings.Split(body, "\n")
			start := func(n int) int {
				for n > 1 {
					prev := strings.TrimSpace(lines[n-2])
					if strings.HasPrefix(prev, "#") {
						n--
						continue
					}
					if !strings.HasSuffix(prev, "\\") {
						break
					}
					n--
				}
				return n
			}
			var want []string
			for _, l := range strings.Split(string(out), "\n") {
				if m := ignoringRE.FindStringSubmatch(l); m != nil && m[1] == path {
					n, _ := strconv.Atoi(m[2])
					want = append(want, strconv.Itoa(start(n))+" "+m[3])
				}
			}
			p, err := f.Props(context.Background(), name)
			if err != nil || !p.Found {
				t.Fatalf("Props: %v %v", p.Found, err)
			}
			var got []string
			for _, d := range append(append([]string(nil), p.Sandbox.Filter.Dropped...), p.Sandbox.Dropped...) {
				// "WORD at FILE:LINE: why"
				word, rest, _ := strings.Cut(d, " at ")
				loc, _, _ := strings.Cut(rest, ": ")
				got = append(got, loc[strings.LastIndexByte(loc, ':')+1:]+" "+word)
			}
			sort.Strings(want)
			sort.Strings(got)
			if len(want) == 0 {
				t.Fatalf("systemd-analyze reported nothing: %s", out)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("ignored words (-systemd-analyze +model):\n%s\nsystemd-analyze said:\n%s", d, out)
			}
		})
	}
}
