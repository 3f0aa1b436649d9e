package unitprops

import (
	"path"
	"strings"
)

// execKeys are the Exec*= settings whose binaries a unit runs.
var execKeys = map[string]bool{
	"ExecCondition": true,
	"ExecStartPre":  true,
	"ExecStart":     true,
	"ExecStartPost": true,
	"ExecReload":    true,
	"ExecStop":      true,
	"ExecStopPre":   true,
	"ExecStopPost":  true,
}

// defaultExecSearchPath is where systemd resolves a command that is not an
// absolute path (its compile-time default PATH, plus the split-/usr
// directories).
var defaultExecSearchPath = []string{
	"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
}

// ExecBinaries returns the binaries an Exec*= value runs: the first word of
// each command (commands are separated by a lone ";"), after the prefixes
// "-@:+!|" ("!!" included), unquoted and unescaped as systemd does. "%%" is
// turned into "%"; other specifiers are left as they are. Absolute paths are
// cleaned; other names are returned as they are (see resolve in Files).
// It never fails: garbage yields garbage names or nothing.
func ExecBinaries(value string) []string {
	var out []string
	rest := value
	for {
		w, raw, r, ok := nextWord(rest)
		if !ok {
			return out
		}
		rest = r
		if raw == ";" {
			continue // empty command
		}
		bin := strings.TrimLeft(w, "-@:+!|")
		bin = strings.ReplaceAll(bin, "%%", "%")
		if bin != "" {
			if strings.HasPrefix(bin, "/") {
				bin = path.Clean(bin)
			}
			out = append(out, bin)
		}
		// Skip the arguments up to a lone ";".
		for {
			_, raw, r, ok := nextWord(rest)
			if !ok {
				return out
			}
			rest = r
			if raw == ";" {
				break
			}
		}
	}
}

// nextWord extracts the first whitespace-separated word of s, removing
// quotes ("..." and '...', also inside a word) and C escapes (\\ \" \' \n
// \t \r \s \xNN; any other escaped character stands for itself). raw is the
// word as written. ok is false when only whitespace is left. An unterminated
// quote ends at the end of s.
func nextWord(s string) (word, raw, rest string, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		return "", "", "", false
	}
	start := i
	var b strings.Builder
	var quote byte
	for i < len(s) {
		c := s[i]
		if quote == 0 && isSpace(c) {
			break
		}
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 's':
				b.WriteByte(' ')
			case 'x':
				if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
					b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
					i += 2
				} else {
					b.WriteByte('x')
				}
			default:
				b.WriteByte(e)
			}
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String(), s[start:i], s[i:], true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
