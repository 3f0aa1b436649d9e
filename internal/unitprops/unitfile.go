package unitprops

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// maxUnitFileSize bounds what is read of one unit file or drop-in.
const maxUnitFileSize = 1 << 20

// maxPhysicalLine keeps every line handed to unit.DeserializeOptions well
// below its 2048-byte limit (systemd itself accepts much longer lines).
const maxPhysicalLine = 1024

// ErrUnitFile is wrapped by errors about unit file content that cannot be
// parsed at all.
var ErrUnitFile = errors.New("unitprops: unparsable unit file")

// consumedKeys are the settings this package reads; an overlong line of
// any other setting is dropped instead of failing the whole file.
var consumedKeys = map[string]bool{
	"SystemCallFilter": true, "SystemCallLog": true, "SystemCallArchitectures": true,
	"SystemCallErrorNumber": true, "ExecCondition": true, "ExecStartPre": true,
	"ExecStart": true, "ExecStartPost": true, "ExecReload": true, "ExecStop": true,
	"ExecStopPre": true, "ExecStopPost": true,
}

// option is one assignment, with line continuations joined.
type option struct {
	Section, Name, Value string
	// Line is the 1-based line the assignment starts on (0: unknown).
	Line int
}

// parseUnitFile parses unit file content. It prepares the text so that
// unit.DeserializeOptions reads it the way systemd would (comment lines
// dropped, also inside continuations; garbage lines dropped; long lines
// folded at whitespace into continuations) and then joins continuations
// (systemd replaces each trailing backslash by a space).
func parseUnitFile(data []byte) ([]option, error) {
	if len(data) > maxUnitFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrUnitFile, maxUnitFileSize)
	}
	prepared, starts, err := prepare(data)
	if err != nil {
		return nil, err
	}
	raw, err := unit.DeserializeOptions(bytes.NewReader(prepared))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnitFile, err)
	}
	out := make([]option, 0, len(raw))
	for i, o := range raw {
		opt := option{Section: o.Section, Name: o.Name, Value: joinContinuations(o.Value)}
		if len(starts) == len(raw) {
			opt.Line = starts[i]
		}
		out = append(out, opt)
	}
	return out, nil
}

// prepare rewrites unit file text line by line; see parseUnitFile. starts
// holds the line number of each assignment it keeps, in order.
func prepare(data []byte) (_ []byte, starts []int, _ error) {
	var b bytes.Buffer
	lineNo := 0
	b.Grow(len(data) + 64)
	continuation := false
	skipping := false // dropping an overlong assignment and its continuations
	inSection := false
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r")
		trimmed := bytes.TrimLeft(line, " \t")
		if len(trimmed) == 0 {
			// systemd appends the blank line to the value, which then no
			// longer ends in a backslash: the assignment ends here.
			if continuation {
				endContinuation(&b)
				continuation = false
			}
			skipping = false
			b.WriteByte('\n')
			continue
		}
		if trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		if skipping {
			skipping = bytes.HasSuffix(bytes.TrimRight(line, " \t"), []byte{'\\'})
			continue
		}
		if !continuation {
			switch {
			case trimmed[0] == '[':
				end := bytes.IndexByte(trimmed, ']')
				if end < 0 || end > 256 || bytes.ContainsAny(trimmed[1:end], "[]") {
					inSection = false
					continue
				}
				b.Write(trimmed[:end+1])
				b.WriteByte('\n')
				inSection = true
				continue
			case !inSection:
				continue // assignment before any section: ignored by systemd
			}
			eq := bytes.IndexByte(trimmed, '=')
			if eq <= 0 || eq > 256 || len(bytes.TrimSpace(trimmed[:eq])) == 0 {
				continue // not an assignment
			}
			line = trimmed
			if len(line) > maxPhysicalLine && !consumedKeys[string(bytes.TrimSpace(line[:eq]))] {
				// A setting this package does not read: drop it rather
				// than fail on its length.
				skipping = bytes.HasSuffix(bytes.TrimRight(line, " \t"), []byte{'\\'})
				continue
			}
			starts = append(starts, lineNo)
		} else {
			// A continuation line must not start like a section header or
			// comment for the lexer; values cannot start with '[' there
			// anyway (it starts a section in go-systemd's lexer), so
			// protect it with a leading space.
			line = append([]byte{' '}, trimmed...)
		}
		continuation = bytes.HasSuffix(bytes.TrimRight(line, " \t"), []byte{'\\'})
		if err := writeFolded(&b, line); err != nil {
			return nil, nil, err
		}
	}
	return b.Bytes(), starts, nil
}

// endContinuation turns the continuation backslash ending the text in b
// (before its newline and any trailing blanks) into a space.
func endContinuation(b *bytes.Buffer) {
	out := b.Bytes()
	for i := len(out) - 1; i >= 0; i-- {
		switch out[i] {
		case '\n', ' ', '\t':
			continue
		case '\\':
			out[i] = ' '
		}
		return
	}
}

// writeFolded writes line, folding it at whitespace into continuation lines
// when it is longer than maxPhysicalLine.
func writeFolded(b *bytes.Buffer, line []byte) error {
	for len(line) > maxPhysicalLine {
		cut := bytes.LastIndexAny(line[:maxPhysicalLine], " \t")
		if cut <= 0 {
			return fmt.Errorf("%w: a word longer than %d bytes", ErrUnitFile, maxPhysicalLine)
		}
		b.Write(line[:cut])
		b.WriteString(" \\\n")
		line = line[cut:]
		// The continuation starts with the whitespace we cut at.
	}
	b.Write(line)
	b.WriteByte('\n')
	return nil
}

// joinContinuations turns a value holding raw "\\\n" continuations into
// one line, replacing each continuation backslash by a space.
func joinContinuations(v string) string {
	if !strings.Contains(v, "\n") && !strings.HasSuffix(v, "\\") {
		return strings.TrimSpace(v)
	}
	parts := strings.Split(v, "\n")
	for i, p := range parts {
		p = strings.TrimRight(p, " \t")
		if strings.HasSuffix(p, "\\") {
			p = p[:len(p)-1] + " "
		}
		parts[i] = p
	}
	return strings.TrimSpace(strings.Join(parts, ""))
}
