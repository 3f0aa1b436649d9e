package apply

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// marker starts the line that identifies a drop-in apply wrote:
// "# seccompwatch-apply v1 sha256=HEX[ dir=created][ learned]".
const marker = "# seccompwatch-apply v1 sha256="

// ErrNotOurs: the file at the drop-in path was not written by apply, or was
// edited since; apply neither overwrites nor removes it.
var ErrNotOurs = errors.New("not written by seccompwatch apply")

// LearnedPath returns where apply writes a unit's learned drop-in below
// root: root + /etc/systemd/system/UNIT.d/40-seccompwatch-learned.conf.
func LearnedPath(root, unit string) (string, error) {
	p, err := Path(root, unit, false)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), LearnedName), nil
}

// Path returns where apply writes the drop-in of a unit below root:
// root + /etc/systemd/system/UNIT.d/50-seccompwatch.conf (user units:
// /etc/systemd/user/...). The unit name is validated.
func Path(root, unit string, user bool) (string, error) {
	p, err := suggest.DropinPath(unit, user)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, p), nil
}

// File is a drop-in apply wrote (or will write).
type File struct {
	Unit  string
	Items []Item
	// CreatedDir records that apply created the drop-in directory, so
	// Revert removes it again when it is empty.
	CreatedDir bool
	// Learned: the drop-in of a learned proposal (LearnedPath), whose
	// items tighten the unit (BuildLearned's values).
	Learned bool
}

// body renders the part of the file that the checksum covers.
func (f File) body() string {
	var b strings.Builder
	b.WriteString("[Service]\n")
	for _, it := range f.Items {
		if f.Learned {
			b.WriteString("# learned: " + suggest.Sanitize(it.Note, 300) + "\n")
			b.WriteString(it.Line() + "\n")
			continue
		}
		what := "lifts " + strings.Join(it.Calls, ", ")
		if it.Kind != "" {
			what += " (verdict " + it.Kind + ")"
		}
		b.WriteString("# " + what + "\n")
		b.WriteString(it.Line() + "\n")
	}
	return b.String()
}

// Render returns the file's content: a header (generator, unit, how to
// undo), the marker with the body's checksum, and the body.
func (f File) Render(generator string) string {
	body := f.body()
	sum := sha256.Sum256([]byte(body))
	flags, how := "", "apply"
	if f.CreatedDir {
		flags += " dir=created"
	}
	if f.Learned {
		flags += " learned"
		how = "apply --learned (the sandbox seccompwatch learn proposed)"
	}
	return "# Written by " + suggest.Sanitize(generator, 64) + " " + how + " for " + f.Unit + ".\n" +
		"# Undo: seccompwatch apply --revert " + f.Unit + " (edit nothing below: the checksum guards it)\n" +
		marker + hex.EncodeToString(sum[:]) + flags + "\n" + body
}

// Parse reads a drop-in apply wrote; ErrNotOurs when it has no marker or
// its body no longer matches the checksum. Every directive is validated
// again as Build validates data.
func Parse(content string, unit string, t *syscalls.Table) (File, error) {
	f := File{Unit: unit}
	i := strings.Index(content, "\n"+marker)
	if i < 0 {
		return f, ErrNotOurs
	}
	rest := content[i+1+len(marker):]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return f, ErrNotOurs
	}
	fields := strings.Fields(rest[:nl])
	body := rest[nl+1:]
	sum := sha256.Sum256([]byte(body))
	if len(fields) == 0 || fields[0] != hex.EncodeToString(sum[:]) {
		return f, fmt.Errorf("%w: edited since apply wrote it (checksum differs)", ErrNotOurs)
	}
	f.CreatedDir = slices.Contains(fields[1:], "dir=created")
	f.Learned = slices.Contains(fields[1:], "learned")
	sc := bufio.NewScanner(strings.NewReader(body))
	var comment string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "[Service]":
		case strings.HasPrefix(line, "# lifts "):
			comment = strings.TrimPrefix(line, "# lifts ")
		case f.Learned && strings.HasPrefix(line, "# learned: "):
			comment = strings.TrimPrefix(line, "# learned: ")
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				return f, fmt.Errorf("%w: line %q", ErrInvalid, shown(line))
			}
			it := Item{Key: key, Values: strings.Fields(value)}
			if f.Learned {
				if err := learnedValues(key, it.Values, t); err != nil {
					return f, err
				}
				it.Learned, it.Note = true, comment
				f.Items = append(f.Items, it)
				comment = ""
				continue
			}
			if err := validItem(it, t); err != nil {
				return f, err
			}
			calls, kind, _ := strings.Cut(comment, " (verdict ")
			for _, c := range strings.Split(calls, ", ") {
				if syscalls.Known(c) {
					it.Calls = append(it.Calls, c)
				}
			}
			if k := strings.TrimSuffix(kind, ")"); kinds[k] {
				it.Kind = k
			}
			f.Items = append(f.Items, it)
			comment = ""
		}
	}
	return f, nil
}

// validItem checks a directive read back from a file.
func validItem(it Item, t *syscalls.Table) error {
	if len(it.Values) == 0 {
		return fmt.Errorf("%w: empty %s=", ErrInvalid, it.Key)
	}
	for _, v := range it.Values {
		ok := false
		switch {
		case it.Key == "SystemCallFilter":
			ok = syscalls.Known(v) || strings.HasPrefix(v, "@") && t.HasGroup(v)
		case it.Key == "SystemCallArchitectures":
			ok = abiName(v)
		case boolDirectives[it.Key]:
			ok = v == "no" && len(it.Values) == 1
		}
		if !ok {
			return fmt.Errorf("%w: %s=%s", ErrInvalid, it.Key, shown(v))
		}
	}
	return nil
}

// Merge returns f with the plan's items added; items whose directive the
// file already has (or, for SystemCallFilter=, whose names it already
// lists) are left out. added reports whether anything was added.
func Merge(f File, items []Item) (out File, added bool) {
	out = f
	out.Items = slices.Clone(f.Items)
	have := map[string]bool{}
	for _, it := range f.Items {
		have[it.Line()] = true
		if it.Key == "SystemCallFilter" {
			for _, v := range it.Values {
				have["SystemCallFilter="+v] = true
			}
		}
	}
	for _, it := range items {
		if have[it.Line()] {
			continue
		}
		if it.Key == "SystemCallFilter" {
			all := true
			for _, v := range it.Values {
				all = all && have["SystemCallFilter="+v]
			}
			if all {
				continue
			}
			for _, v := range it.Values {
				have["SystemCallFilter="+v] = true
			}
		}
		have[it.Line()] = true
		out.Items = append(out.Items, it)
		added = true
	}
	return out, added
}

// Write writes content to path atomically (a temporary file in the same
// directory, fsynced, mode 0644, renamed over path, the directory
// fsynced), creating the directory (0755) when needed. It reports whether
// it created the directory.
func Write(path, content string) (createdDir bool, err error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		createdDir = true
	}
	tmp, err := os.CreateTemp(dir, ".50-seccompwatch.conf.*")
	if err != nil {
		return createdDir, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return createdDir, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return createdDir, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return createdDir, err
	}
	if err := tmp.Close(); err != nil {
		return createdDir, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return createdDir, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return createdDir, nil
}

// Remove deletes the drop-in at path if apply wrote it and nobody edited it
// since (ErrNotOurs otherwise), and its directory when apply created it and
// it is empty now. removed is false when there was no file.
func Remove(path, unit string, t *syscalls.Table) (removed bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f, err := Parse(string(b), unit, t)
	if err != nil {
		return false, err
	}
	if err := os.Remove(path); err != nil {
		return false, err
	}
	if f.CreatedDir {
		_ = os.Remove(filepath.Dir(path)) // only when empty
	}
	return true, nil
}
