package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// maxShownMalformed is how many malformed lines a replay names on stderr;
// the rest are only counted.
const maxShownMalformed = 10

func registerReplay(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("replay", `Print the seccomp denials in audit logs.

Reads raw audit.log (auditd 2.x/3.x), ausearch --raw and ausearch -i output,
kernel log text (dmesg, syslog, journalctl), journalctl's own audit lines
("audit[PID]: SECCOMP ..."; time only from -o short-iso or short-unix), and
journalctl -o json/-o export (preferred: their _TRANSPORT=audit cannot be
forged, text lines can), detected per line; .gz files and rotated sets (audit.log.N) work; - is stdin.

Examples:
  seccompwatch replay /var/log/audit/audit.log*
  ausearch -m SECCOMP -i | seccompwatch replay -
  journalctl -o json _TRANSPORT=audit | seccompwatch replay --output jsonl -
  journalctl -o short-iso _TRANSPORT=audit | seccompwatch replay -
  seccompwatch replay --unit nginx.service audit.log   # all records are nginx's`)
	unit := c.Flag("unit", "Attribute every record to this unit (records carry no cgroup). Default: the unit whose ExecStart= runs the record's exe, when exactly one does.").String()
	output := c.Flag("output", "text, or jsonl (one JSON object per record, schema in the README).").Default("text").Enum("text", "jsonl")
	root := c.Flag("root", "Root directory of the unit files used to attribute records by exe.").Default("/").String()
	table := tableFlag(c)
	files := c.Arg("files", "Audit logs to read; - for standard input.").Required().Strings()
	cmds[c.FullCommand()] = func() error {
		t, err := selectTable(*table)
		if err != nil {
			return err
		}
		r, err := newReplay(e, *files, *unit, *root, t)
		if err != nil {
			return err
		}
		defer r.close()
		w := bufio.NewWriterSize(e.stdout, 64<<10)
		var buf []byte
		err = r.each(e, func(ev *event.Event) error {
			if *output == "jsonl" {
				buf = ev.AppendJSON(buf[:0], event.JSONOptions{})
				buf = append(buf, '\n')
			} else {
				buf = appendText(buf[:0], ev)
			}
			_, err := w.Write(buf)
			return err
		})
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		r.summary(e)
		return err
	}
}

// replay reads records from files and attributes them as replay can.
type replay struct {
	in    *auditstream.MultiReader
	table *syscalls.Table
	files *unitprops.Files // the unit files under --root
	unit  string
	exes  *unitprops.ExecIndex
	// byExe caches exe look-ups: logs repeat a few binaries many times.
	byExe map[string]string

	malformed int
}

func newReplay(e *env, files []string, unit, root string, t *syscalls.Table) (*replay, error) {
	if unit != "" {
		if err := unitname.Validate(unit, unitname.Any); err != nil {
			return nil, usagef("--unit: %v", err)
		}
	}
	for i, f := range files {
		if f == stdinArg {
			files[i] = "-"
		}
	}
	in, err := auditstream.OpenWithStdin(files, e.stdin)
	if err != nil {
		return nil, err
	}
	r := &replay{in: in, table: t, unit: unit, files: unitprops.NewFiles(t, unitprops.FilesOptions{Root: root})}
	if unit == "" {
		// Unit files that cannot be read leave attribution to the exe
		// pseudo-units: never a reason to fail a replay.
		idx, err := r.files.ExecIndex(context.Background())
		if err == nil {
			r.exes = idx
		}
	}
	return r, nil
}

func (r *replay) close() { r.in.Close() }

// each calls fn for every record, enriched and attributed. Malformed
// records are reported (the first few by location) and skipped.
func (r *replay) each(e *env, fn func(*event.Event) error) error {
	for {
		rec, err := r.in.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var le *auditstream.LineError
		if errors.As(err, &le) {
			r.malformed++
			if r.malformed <= maxShownMalformed {
				fmt.Fprintf(e.stderr, "skipped %s\n", sanitizeLine(le.Error()))
			}
			continue
		}
		if err != nil {
			return err
		}
		ev := pipeline.Enrich(rec, r.table)
		switch {
		case r.unit != "":
			ev.Unit, ev.Method = r.unit, "flag"
		case r.exes != nil && !rec.ExeUnknown:
			if u := r.lookupExe(rec.Exe); u != "" {
				ev.Unit, ev.Method = u, "exe"
			} else {
				ev.Reason = "no_unique_unit_for_exe"
			}
		default:
			ev.Reason = "no_cgroup_in_replay"
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
}

// lookupExe returns the one unit that runs exe, or "".
func (r *replay) lookupExe(exe string) string {
	if u, ok := r.byExe[exe]; ok {
		return u
	}
	u, _ := r.exes.LookupExe(exe)
	if r.byExe == nil {
		r.byExe = make(map[string]string)
	}
	if len(r.byExe) < 65536 {
		r.byExe[exe] = u
	}
	return u
}

// summary prints what was read to stderr: users must see "0 records in N
// lines" rather than nothing.
func (r *replay) summary(e *env) {
	st := r.in.Stats()
	fmt.Fprintf(e.stderr, "replay: %d SECCOMP records in %d lines; table: %s", st.Seccomp, st.Lines, r.table.Source)
	if n := len(st.Malformed); n > 0 {
		var parts []string
		for reason, c := range st.Malformed {
			parts = append(parts, fmt.Sprintf("%s %d", reason, c))
		}
		sort.Strings(parts)
		fmt.Fprintf(e.stderr, "; skipped malformed: %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(e.stderr)
}

// appendText formats one denial for humans. comm and exe are quoted with
// control characters escaped: a record cannot move the terminal's cursor.
func appendText(b []byte, ev *event.Event) []byte {
	if ev.Time.IsZero() {
		b = append(b, "-                       "...)
	} else {
		b = ev.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	}
	b = append(b, ' ')
	b = append(b, suggest.Sanitize(ev.Unit, 128)...)
	b = append(b, " pid="...)
	b = strconv.AppendInt(b, int64(ev.PID), 10)
	b = append(b, " comm="...)
	b = strconv.AppendQuoteToASCII(b, ev.Comm)
	b = append(b, " exe="...)
	if ev.ExeUnknown {
		b = append(b, "(null)"...)
	} else {
		b = strconv.AppendQuoteToASCII(b, ev.Exe)
	}
	b = append(b, ' ')
	b = append(b, ev.ArchLabel()...)
	b = append(b, ' ')
	b = append(b, suggest.Sanitize(ev.SyscallName, 64)...) // ausearch -i: a name from the file
	b = append(b, '(')
	b = strconv.AppendInt(b, int64(ev.Syscall), 10)
	b = append(b, ") "...)
	b = append(b, ev.Action.String()...)
	if len(ev.Groups) > 0 {
		b = append(b, " groups="...)
		b = append(b, strings.Join(ev.Groups, ",")...)
	}
	if ev.File != "" {
		b = append(b, " at="...)
		b = strconv.AppendQuoteToASCII(b, ev.File+":"+strconv.Itoa(ev.Line))
	}
	return append(b, '\n')
}

// sanitizeLine makes an error message one printable line.
func sanitizeLine(s string) string { return suggest.Sanitize(s, 512) }
