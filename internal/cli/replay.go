package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/unix"

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
("audit[PID]: SECCOMP ..."; time only from -o short-iso or short-unix, or a
viewer's "10:39:55 COMM: SECCOMP ..." where COMM is the record's own comm;
-o cat), and
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
	root := c.Flag("root", "Root directory of the unit files used to attribute records by exe. Records of another host (a central log's node=) are attributed only when it is given: a copy of that host's tree.").Default("/").String()
	table := tableFlag(c)
	files := c.Arg("files", "Audit logs to read; - for standard input (the default when it is not a terminal).").Strings()
	cmds[c.FullCommand()] = func() error {
		if len(*files) == 0 {
			if isTerminal(e.stdin) {
				return usagef("replay needs an audit log to read: a FILE, or - for standard input")
			}
			*files = []string{"-"}
		}
		r, err := newReplay(e, *files, *unit, *root, func() (*syscalls.Table, error) { return selectTable(*table) })
		if err != nil {
			return err
		}
		defer r.close()
		w := bufio.NewWriterSize(e.stdout, 64<<10)
		var buf []byte
		opts := event.JSONOptions{Cache: new(event.JSONCache)}
		err = r.each(e, func(ev *event.Event) error {
			if *output == "jsonl" {
				buf = ev.AppendJSON(buf[:0], opts)
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
		if serr := r.wait(); serr != nil {
			return serr // nothing was written: a bad table is the answer
		}
		r.summary(e)
		if err != nil {
			return err
		}
		return r.recognized()
	}
}

// replay reads records from files and attributes them as replay can.
//
// Start-up runs beside the reading: the table (with the default auto, a
// systemd-analyze child) and the index of the unit files under --root are
// built by one goroutine while another reads and parses the input; records
// are enriched, attributed and handed on in input order once both are
// there.
type replay struct {
	in   *auditstream.MultiReader
	unit string
	// root is --root; hostname this host's name: the unit files under
	// "/" are only this host's (see readsUnitsOf).
	root, hostname string

	// ready is closed when table, files, exes and setupErr are set.
	ready    chan struct{}
	setupErr error
	table    *syscalls.Table
	files    *unitprops.Files // the unit files under --root
	exes     *unitprops.ExecIndex
	// byExe caches exe look-ups: logs repeat a few binaries many times.
	byExe map[string]string

	malformed int
}

// newReplay opens files and starts the set-up: table (which may run a
// child) chooses the systemd table.
func newReplay(e *env, files []string, unit, root string, table func() (*syscalls.Table, error)) (*replay, error) {
	if unit != "" {
		unit = unitname.Complete(unit)
		if err := unitname.Validate(unit, unitname.Any); err != nil {
			return nil, usagef("--unit: %v", err)
		}
	}
	for i, f := range files {
		if f == stdinArg {
			files[i] = "-"
		}
	}
	r := &replay{unit: unit, root: root, ready: make(chan struct{})}
	r.hostname, _ = os.Hostname()
	go func() {
		defer close(r.ready)
		// The unit-file index (the binaries every unit runs) needs no
		// group table: it is built while the table is asked for.
		var wg sync.WaitGroup
		var exes *unitprops.ExecIndex
		if unit == "" {
			wg.Go(func() {
				// Unit files that cannot be read leave attribution to
				// the exe pseudo-units: never a reason to fail a replay.
				if idx, err := unitprops.NewFiles(nil, unitprops.FilesOptions{Root: root}).ExecIndex(context.Background()); err == nil {
					exes = idx
				}
			})
		}
		t, err := table()
		wg.Wait()
		if err != nil {
			r.setupErr = err
			return
		}
		r.table, r.exes = t, exes
		r.files = unitprops.NewFiles(t, unitprops.FilesOptions{Root: root})
	}()
	in, err := auditstream.OpenWithStdin(files, e.stdin)
	if err != nil {
		if werr := r.wait(); werr != nil {
			return nil, werr // a bad --systemd.table is said first
		}
		return nil, err
	}
	r.in = in
	return r, nil
}

// wait blocks until the table and the unit files are there.
func (r *replay) wait() error {
	<-r.ready
	return r.setupErr
}

func (r *replay) close() { r.in.Close() }

// replayBatch is how many records (or line errors) the reading goroutine
// hands on at once: one channel operation per batch, not per record.
const replayBatch = 256

// item is one result of MultiReader.Next.
type item struct {
	rec auditstream.Record
	err error
}

// read runs in its own goroutine: it parses the input into batches sent on
// full, taking empty ones from free, until EOF, an error that ends the
// replay (sent as the last item), or done closes. It closes full.
func (r *replay) read(full chan<- []item, free chan []item, done <-chan struct{}) {
	defer close(full)
	for {
		var b []item
		select {
		case b = <-free:
			b = b[:0]
		default:
			b = make([]item, 0, replayBatch)
		}
		last := false
		for len(b) < replayBatch {
			rec, err := r.in.Next()
			if errors.Is(err, io.EOF) {
				last = true
				break
			}
			b = append(b, item{rec, err})
			var le *auditstream.LineError
			if err != nil && !errors.As(err, &le) {
				last = true
				break
			}
		}
		if len(b) > 0 {
			select {
			case full <- b:
			case <-done:
				return
			}
		}
		if last {
			return
		}
	}
}

// each calls fn for every record, enriched and attributed, in input order.
// Malformed records are reported (the first few by location) and skipped.
// fn's event is reused for the next record: fn must not keep it.
func (r *replay) each(e *env, fn func(*event.Event) error) error {
	full := make(chan []item, 4)
	free := make(chan []item, 6)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.read(full, free, done)
	}()
	// the reader must be gone before Stats or Close read its state
	defer func() {
		close(done)
		for range full {
		}
		<-finished
	}()
	if err := r.wait(); err != nil {
		return err
	}
	var ev event.Event
	for b := range full {
		for i := range b {
			if err := r.handle(e, &b[i], &ev, fn); err != nil {
				return err
			}
		}
		select {
		case free <- b:
		default:
		}
	}
	return nil
}

// handle reports one item's line error or enriches its record into ev and
// calls fn.
func (r *replay) handle(e *env, it *item, ev *event.Event, fn func(*event.Event) error) error {
	if err := it.err; err != nil {
		var le *auditstream.LineError
		if errors.As(err, &le) {
			r.malformed++
			if r.malformed <= maxShownMalformed {
				fmt.Fprintf(e.stderr, "skipped %s\n", lineMessage(le))
			}
			return nil
		}
		return err
	}
	rec := &it.rec
	pipeline.EnrichInto(ev, rec, r.table)
	switch {
	case r.unit != "":
		ev.Unit, ev.Method = r.unit, "flag"
	case !r.readsUnitsOf(rec.Node):
		ev.Reason = "other_node" // this host's unit files name no unit of another host
	case r.exes != nil && !rec.ExeUnknown:
		if u := r.lookupExe(rec.Exe); u != "" {
			ev.Unit, ev.Method = u, "exe"
		} else {
			ev.Reason = "no_unique_unit_for_exe"
		}
	default:
		ev.Reason = "no_cgroup_in_replay"
	}
	return fn(ev)
}

// readsUnitsOf reports whether the unit files under --root may stand for
// node's: a record without node= (a local log), a node that is this host
// (its name, or its first label when one of the two is a short name), or
// a --root the user gave (a copy of that host's tree). Another host's
// records are never judged against this host's units.
func (r *replay) readsUnitsOf(node string) bool {
	if node == "" || filepath.Clean(r.root) != "/" || strings.EqualFold(node, r.hostname) {
		return true
	}
	short, _, _ := strings.Cut(r.hostname, ".")
	nshort, _, _ := strings.Cut(node, ".")
	oneShort := node == nshort || r.hostname == short
	return short != "" && oneShort && strings.EqualFold(nshort, short)
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

// recognized fails a replay whose input had lines but not one audit
// record of any type: random bytes, a binary, the wrong file.
func (r *replay) recognized() error {
	st := r.in.Stats()
	if st.Lines == 0 {
		return nil
	}
	for _, n := range st.Records {
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("no audit records found in %d lines: is this an audit log?", st.Lines)
}

// isTerminal reports whether r is a terminal (then replay does not wait
// for typed input).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// textRow is what the text form of a denial shows: from an Event
// (replay) or from the record schema's JSON (denials).
type textRow struct {
	Time          time.Time
	Node          string
	Unit, Machine string
	PID           int
	Comm, Exe     string
	ExeNull       bool
	Arch, Syscall string
	Nr            int
	Action        string
	Groups        []string
	File          string
	Line          int
}

// appendText formats one denial for humans.
func appendText(b []byte, ev *event.Event) []byte {
	return appendRow(b, &textRow{
		Time: ev.Time, Node: ev.Node, Unit: ev.Unit, Machine: ev.Machine, PID: ev.PID, Comm: ev.Comm, Exe: ev.Exe, ExeNull: ev.ExeUnknown,
		Arch: ev.ArchLabel(), Syscall: ev.SyscallName, Nr: ev.Syscall, Action: ev.Action.String(), Groups: ev.Groups,
		File: ev.File, Line: ev.Line,
	})
}

// appendRow formats one denial for humans. comm and exe are quoted with
// control characters escaped, and every other value a record or a daemon
// supplies is sanitized: a record cannot move the terminal's cursor.
func appendRow(b []byte, r *textRow) []byte {
	if r.Time.IsZero() {
		b = append(b, "-                       "...)
	} else {
		b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	}
	b = append(b, ' ')
	if r.Node != "" {
		b = append(b, "node="...)
		b = append(b, suggest.Sanitize(r.Node, 256)...)
		b = append(b, ' ')
	}
	b = append(b, suggest.Sanitize(r.Unit, 128)...)
	if r.Machine != "" {
		b = append(b, " machine="...)
		b = append(b, suggest.Sanitize(r.Machine, 64)...)
	}
	b = append(b, " pid="...)
	b = strconv.AppendInt(b, int64(r.PID), 10)
	b = append(b, " comm="...)
	b = strconv.AppendQuoteToASCII(b, r.Comm)
	b = append(b, " exe="...)
	if r.ExeNull {
		b = append(b, "(null)"...)
	} else {
		b = strconv.AppendQuoteToASCII(b, r.Exe)
	}
	b = append(b, ' ')
	b = append(b, suggest.Sanitize(r.Arch, 32)...)
	b = append(b, ' ')
	b = append(b, suggest.Sanitize(r.Syscall, 64)...) // ausearch -i: a name from the file
	b = append(b, '(')
	b = strconv.AppendInt(b, int64(r.Nr), 10)
	b = append(b, ") "...)
	b = append(b, suggest.Sanitize(r.Action, 32)...)
	if len(r.Groups) > 0 {
		b = append(b, " groups="...)
		b = append(b, suggest.Sanitize(strings.Join(r.Groups, ","), 1024)...)
	}
	if r.File != "" {
		b = append(b, " at="...)
		b = strconv.AppendQuoteToASCII(b, r.File+":"+strconv.Itoa(r.Line))
	}
	return append(b, '\n')
}

// sanitizeLine makes an error message one printable line.
func sanitizeLine(s string) string { return suggest.Sanitize(s, 512) }
