package suggest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidUnitName is returned (wrapped) by ValidateUnitName for a name
// that systemd would not accept as a unit name, and that therefore must never
// become a path component.
var ErrInvalidUnitName = errors.New("suggest: invalid unit name")

// unitNameMax is systemd's UNIT_NAME_MAX minus the terminating NUL.
const unitNameMax = 255

// unitTypes are the unit type suffixes systemd knows.
var unitTypes = []string{
	".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope",
}

// filterTypes are the unit types that have an exec context, and therefore
// accept SystemCallFilter= in a drop-in.
var filterTypes = []string{".service", ".socket", ".mount", ".swap"}

// pseudoPrefix starts the name of the pseudo-unit that collects the
// denials of one binary that could not be attributed to a unit.
const pseudoPrefix = "unattributed:"

// IsPseudoUnit reports whether name stands for denials without a unit
// ("unknown", or "unattributed:<exe>"): such names are never applicable.
func IsPseudoUnit(name string) bool {
	return name == "unknown" || name == "" || strings.HasPrefix(name, pseudoPrefix)
}

// ValidateUnitName checks name against systemd's rules for unit names: at
// most 255 bytes of [A-Za-z0-9:_.\-@] (backslash only as part of a \xNN
// escape), a non-empty prefix, at most one '@' (never first), and a known
// unit type suffix. Everything else, in particular anything with '/', is
// rejected, so a valid name is safe as one path component.
func ValidateUnitName(name string) error {
	if name == "" || len(name) > unitNameMax {
		return fmt.Errorf("%w: length %d", ErrInvalidUnitName, len(name))
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || !hasSuffix(name[dot:], unitTypes) {
		return fmt.Errorf("%w: no unit type suffix", ErrInvalidUnitName)
	}
	prefix := name[:dot]
	if at := strings.IndexByte(prefix, '@'); at == 0 || (at > 0 && strings.IndexByte(prefix[at+1:], '@') >= 0) {
		return fmt.Errorf("%w: misplaced '@'", ErrInvalidUnitName)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':', c == '_', c == '.', c == '-', c == '@':
		case c == '\\':
			if i+3 >= len(prefix) || prefix[i+1] != 'x' || !isHex(prefix[i+2]) || !isHex(prefix[i+3]) {
				return fmt.Errorf("%w: stray backslash", ErrInvalidUnitName)
			}
			i += 3
		default:
			return fmt.Errorf("%w: character %q", ErrInvalidUnitName, c)
		}
	}
	if prefix == "." || prefix == ".." {
		return fmt.Errorf("%w: dot name", ErrInvalidUnitName)
	}
	return nil
}

// acceptsFilter reports whether a unit of this (valid) name can carry
// SystemCallFilter=.
func acceptsFilter(name string) bool {
	return hasSuffix(name, filterTypes)
}

func hasSuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
