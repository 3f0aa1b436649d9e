package deploy

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

// chromium runs Debian's chromium headless with a fresh profile and the
// flags that keep it off the network (this machine's closed network makes
// it hang otherwise), and returns its stdout.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testutil.Unavailable(t, "chromium not installed (scripts/setup.sh installs Debian's chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %q: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestPageInChromium renders the daemon's HTML page in a real headless
// Chromium after real denials: a unit denied getcpu (its filter, an
// allow-list, is the denier), and a process outside any unit whose exe
// (a copy of /bin/true) is named like markup. The DOM after
// the page's script ran shows the unit's section with the verdict, the
// evidence, the drop-in, the diff, the apply command and a visible copy
// button; the hostile exe is text (no element of it); and a screenshot is
// a real, non-blank image (tests print its path to look at).
func TestPageInChromium(t *testing.T) {
	requireLive(t)
	pid := os.Getpid()
	unit := fmt.Sprintf("sw-page-%d.service", pid)
	dirs, remove, err := denier.UnitCgroups(fmt.Sprintf("swtest-page%d.slice", pid), unit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unitDir, unit), []byte("[Service]\nExecStart="+self+"\nSystemCallFilter=read write\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The hostile binary: a copy of /bin/true (glibc's start-up calls
	// arch_prctl) whose name is markup; its comm is the name's first 15
	// bytes.
	hostileName := fmt.Sprintf(`<img src=x onerror=alert(%d)>"&'`, pid)
	hostile := filepath.Join(t.TempDir(), hostileName)
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostile, bin, 0o755); err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t, t.TempDir(), root, nil)
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: dirs})
	deny(t, denier.Spec{Syscall: "getcpu", Action: "kill_process", Cgroups: dirs})
	deny(t, denier.Spec{Syscall: "arch_prctl", Action: "kill_process", Exec: hostile}) // in no unit's cgroup: unattributed
	waitFor(t, 10*time.Second, "the daemon has both denials", func() (bool, string) {
		_, body, err := d.get("/api/v1/denials?limit=10000")
		return err == nil && strings.Count(body, `"unit": "`+unit+`"`) == 2 && strings.Contains(body, fmt.Sprintf("onerror=alert(%d)", pid)), body
	})

	dom := string(chromium(t, "--dump-dom", d.base+"/"))
	// Our unit's section.
	m := regexp.MustCompile(`(?s)<section class="unit" id="(u\d+)">\s*<h3 class="unit-name">` + regexp.QuoteMeta(unit) + `</h3>.*?</section>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no section for %s in the DOM:\n%s", unit, dom)
	}
	sec, id := m[0], m[1]
	for _, want := range []string{
		`<code class="what">SystemCallFilter=getcpu</code>`,
		`<span class="verdict">filter</span>`,
		`<td class="count">2</td>`,
		`<td class="exe">` + html.EscapeString(self) + `</td>`,
		`<span class="status-proposed">proposed</span>`,
		`<pre id="` + id + `-dropin" class="dropin">`,
		"\nSystemCallFilter=getcpu\n",
		`<pre class="diff">`,
		"+SystemCallFilter=getcpu",
		`<pre class="apply">seccompwatch apply ` + unit + `</pre>`,
		`<button type="button" data-copy="` + id + `-dropin">Copy</button>`, // no hidden: the script ran
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("%s's section lacks %q:\n%s", unit, want, sec)
		}
	}
	if strings.Contains(dom, "<img") || strings.Contains(dom, "onerror=alert(") && !strings.Contains(dom, "&lt;img src=x onerror=alert(") {
		t.Errorf("the hostile exe became markup:\n%s", dom)
	}
	if !strings.Contains(dom, html.EscapeString(`<img src=x onerror=alert(`)) {
		t.Errorf("the hostile exe's denial is not on the page:\n%s", dom)
	}
	if !strings.Contains(dom, `<td>Audit stream</td><td class="ok">subscribed`) {
		t.Errorf("health table lacks the audit stream:\n%s", dom)
	}

	shot := filepath.Join(t.TempDir(), "page.png")
	if dir := os.Getenv("SECCOMPWATCH_PAGE_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "page.png") // to look at it
	}
	chromium(t, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", d.base+"/#"+id)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	colors := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[r>>12<<8|g>>12<<4|bl>>12] = true
		}
	}
	if b.Dx() != 1280 || b.Dy() != 1600 || len(colors) < 8 {
		t.Errorf("screenshot %s: %v, %d colours: blank?", shot, b, len(colors))
	}
	t.Logf("screenshot: %s (%d colours)", shot, len(colors))
}
