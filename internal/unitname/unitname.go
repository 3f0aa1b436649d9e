// Package unitname is the one implementation of systemd's rules for unit
// names (src/basic/unit-name.c, unit_name_is_valid): which strings are unit
// names, what type a name has, which types have an exec context (and so a
// seccomp sandbox), and how systemctl completes a bare name.
//
// A name that Valid accepts is at most 255 bytes of ASCII letters, digits
// and ":-_.\@", has a known type suffix and a non-empty prefix, and so is
// always safe as one path component: it never contains '/' or NUL and is
// never "." or "..". Like systemd, Valid does not check that a backslash
// starts a \xNN escape ("a\.service" is a valid name), and it allows more
// '@' in the instance ("a@b@c.service") but none as the first byte.
package unitname

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Form selects which shapes of name Valid accepts, as systemd's
// UnitNameFlags do.
type Form uint8

// The forms of a unit name.
const (
	// Plain is "foo.service".
	Plain Form = 1 << iota
	// Instance is "foo@bar.service".
	Instance
	// Template is "foo@.service".
	Template
	// Any is every form.
	Any = Plain | Instance | Template
)

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("invalid unit name")

// Max is the longest valid name in bytes: systemd's UNIT_NAME_MAX (256)
// less the terminating NUL.
const Max = 255

// types are systemd's unit types (unit_type_from_string).
var types = map[string]bool{
	"service": true, "mount": true, "swap": true, "socket": true, "target": true,
	"device": true, "automount": true, "timer": true, "path": true, "slice": true, "scope": true,
}

// execTypes are the unit types with an exec context: the only ones whose
// processes get systemd's seccomp filters (SystemCallFilter= and the
// directives that build filters of their own).
var execTypes = map[string]bool{"service": true, "socket": true, "mount": true, "swap": true}

// Valid reports whether systemd accepts name as a unit name of one of the
// given forms.
func Valid(name string, forms Form) bool {
	return check(name, forms) == ""
}

// Validate is Valid with the reason: it returns nil or an error wrapping
// ErrInvalid that quotes the name and says what is wrong.
func Validate(name string, forms Form) error {
	if why := check(name, forms); why != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalid, truncate(name), why)
	}
	return nil
}

// check returns why name is not a unit name of the forms, or "".
func check(name string, forms Form) string {
	if name == "" {
		return "empty"
	}
	if len(name) > Max {
		return fmt.Sprintf("longer than %d bytes", Max)
	}
	// The characters first (systemd checks the suffix first; the answer
	// is the same, the message is clearer for "a/b.service").
	dot, at := -1, -1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '@':
			if at < 0 {
				at = i
			}
		case c == '.':
			dot = i
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == ':', c == '-', c == '_', c == '\\':
		default:
			return fmt.Sprintf("character %q is not allowed", c)
		}
	}
	if dot <= 0 || !types[name[dot+1:]] {
		return "no unit type suffix (.service, .socket, .mount, .timer, ...)"
	}
	switch {
	case at == 0:
		return "it starts with '@'"
	case at < 0:
		if forms&Plain == 0 {
			return "not an instance or template name"
		}
	case at+1 < dot:
		if forms&Instance == 0 {
			return "an instance name is not allowed here"
		}
	default:
		if forms&Template == 0 {
			return "a template name (no instance after '@') is not allowed here"
		}
	}
	return ""
}

// Type returns the type of a valid name ("service" for "foo.service"), or
// "" when name is not valid.
func Type(name string) string {
	if !Valid(name, Any) {
		return ""
	}
	return name[strings.LastIndexByte(name, '.')+1:]
}

// HasExecContext reports whether name is a valid unit name of a type that
// runs processes under an exec context (service, socket, mount, swap): the
// only units a SystemCallFilter= drop-in applies to.
func HasExecContext(name string) bool {
	return ExecType(Type(name))
}

// ExecType reports whether units of type typ ("service", as Type returns
// it) have an exec context.
func ExecType(typ string) bool {
	return execTypes[typ]
}

// Complete adds ".service" to a name without a unit type suffix, as
// systemctl does ("nginx" is "nginx.service"); other names are returned as
// they are. It does not validate: the result still goes through Validate.
func Complete(name string) string {
	if name == "" {
		return name
	}
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 && types[name[dot+1:]] {
		return name
	}
	return name + ".service"
}

// truncate shortens hostile input for error messages.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// A user unit reference names a unit of a user's service manager
// (user@UID.service) as seccompwatch's metrics label it and its commands
// and API take it: "user@UID.service/NAME", UID in decimal as systemd
// writes it (no sign, no leading zeros), NAME a unit name. A user can give
// a unit of their own manager any name, a system unit's included: the
// reference keeps the two apart wherever a bare name would mean the
// system's unit.

// maxUID is the largest UID a user manager instance can have (uid_t less
// the invalid (uid_t)-1 and the 16-bit overflow UID, as systemd's
// uid_is_valid; UIDs above 2^31-1 are refused, as the attribution does).
const maxUID = 1<<31 - 1

// UserRef returns the reference of unit in the user manager of uid.
func UserRef(uid int, unit string) string {
	return "user@" + strconv.Itoa(uid) + ".service/" + unit
}

// Ref returns the reference of a unit: its name for a system unit, the
// user unit reference for a unit of the user manager of uid.
func Ref(unit string, userUnit bool, uid int) string {
	if !userUnit {
		return unit
	}
	return UserRef(uid, unit)
}

// SplitUserRef splits "user@UID.service/NAME" into UID and NAME. ok is
// false for any other string (a plain unit name among them); NAME is not
// validated (ValidateRef does).
func SplitUserRef(ref string) (uid int, unit string, ok bool) {
	mgr, unit, found := strings.Cut(ref, "/")
	if !found || !strings.HasPrefix(mgr, "user@") || !strings.HasSuffix(mgr, ".service") {
		return 0, "", false
	}
	uid, ok = ParseUID(mgr[len("user@") : len(mgr)-len(".service")])
	return uid, unit, ok
}

// ParseUID parses the instance of a user manager (the N of user@N.service):
// decimal digits, no leading zeros, at most 2^31-1.
func ParseUID(s string) (int, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > maxUID {
		return 0, false
	}
	return n, true
}

// CompleteRef is Complete for a unit reference: a bare name means
// NAME.service, in a user reference too ("user@1000.service/app" is
// "user@1000.service/app.service").
func CompleteRef(ref string) string {
	if uid, unit, ok := SplitUserRef(ref); ok {
		return UserRef(uid, Complete(unit))
	}
	return Complete(ref)
}

// ValidateRef validates a unit reference: a unit name of the given forms,
// or a user unit reference whose NAME is one. The error wraps ErrInvalid.
func ValidateRef(ref string, forms Form) error {
	if _, unit, ok := SplitUserRef(ref); ok {
		if why := check(unit, forms); why != "" {
			return fmt.Errorf("%w %q: the user unit %s", ErrInvalid, truncate(ref), why)
		}
		return nil
	}
	if strings.HasPrefix(ref, "user@") && strings.Contains(ref, "/") {
		return fmt.Errorf("%w %q: a user's unit is user@UID.service/NAME, UID in decimal", ErrInvalid, truncate(ref))
	}
	return Validate(ref, forms)
}
