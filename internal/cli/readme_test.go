package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// TestREADMEDaemonFlags: every flag of `run` is in the README's flag
// table with the default --help shows, so the two cannot drift apart
// again (as --memory.limit, --api.recent-denials, --units.root and
// --state.save-interval did).
func TestREADMEDaemonFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag -> its table row
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "| `--") {
			continue
		}
		cells := strings.Split(l, "|")
		for _, f := range strings.Split(cells[1], ",") {
			rows[strings.Trim(strings.TrimSpace(f), "`")] = l
		}
	}
	app := kingpin.New("seccompwatch", "")
	register(app, &env{}, map[string]func() error{})
	run := app.GetCommand("run")
	for _, f := range run.Model().Flags {
		if f.Hidden || f.Name == "help" {
			continue
		}
		row, ok := rows["--"+f.Name]
		if !ok {
			t.Errorf("--%s is not in the README's flag table", f.Name)
			continue
		}
		// Defaults written as --help writes them; the few that read
		// better in words are listed.
		worded := map[string]string{"audit.rcvbuf-bytes": "64 MiB", "dbus.address": "system bus", "events.file": "none",
			"web.enable-loglevel-change": "off", "attribution.no-bpf": "off", "audit.backlog-limit": "8192",
			"audit.backlog-wait-time": "0", "log.level": "`info`", "log.format": "`json`"}
		want := ""
		if len(f.Default) > 0 {
			want = f.Default[0]
		}
		if w, ok := worded[f.Name]; ok {
			want = w
		}
		if cells := strings.Split(row, "|"); len(cells) < 3 || !strings.Contains(cells[2], want) {
			t.Errorf("README default of --%s: %q, --help says %q", f.Name, strings.TrimSpace(cells[2]), want)
		}
	}
}
