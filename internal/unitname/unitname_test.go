package unitname

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// TestValidSystemdCases is systemd's own table (src/test/test-unit-name.c,
// TEST(unit_name_is_valid)), plus the names the three validators this
// package replaced disagreed on.
func TestValidSystemdCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		forms Form
		want  bool
	}{
		{"foo.service", Any, true},
		{"foo.service", Plain, true},
		{"foo.service", Instance, false},
		{"foo.service", Template, false},
		{"foo.service", Instance | Template, false},

		{"foo@bar.service", Any, true},
		{"foo@bar.service", Plain, false},
		{"foo@bar.service", Instance, true},
		{"foo@bar.service", Template, false},
		{"foo@bar.service", Instance | Template, true},

		{"foo@bar@bar.service", Any, true},
		{"foo@bar@bar.service", Plain, false},
		{"foo@bar@bar.service", Instance, true},
		{"foo@bar@bar.service", Template, false},
		{"foo@bar@bar.service", Instance | Template, true},

		{"foo@.service", Any, true},
		{"foo@.service", Plain, false},
		{"foo@.service", Instance, false},
		{"foo@.service", Template, true},
		{"foo@.service", Instance | Template, true},
		{".test.service", Plain, true},
		{".test@.service", Template, true},
		{"_strange::::.service", Any, true},

		{".service", Any, false},
		{"", Any, false},
		{"foo.waldo", Any, false},
		{"@.service", Any, false},
		{"@piep.service", Any, false},

		{"user@1000.slice", Any, true},
		{"user@1000.slice", Instance, true},
		{"user@1000.slice", Template, false},

		{"foo@%i.service", Any, false},
		{"foo@%i.service", Instance, false},
		{"foo@%%i.service", Instance, false},
		{"foo@%%i%f.service", Instance, false},
		{"foo@%F.service", Instance, false},

		{"foo.target.wants/plain.service", Any, false},
		{"foo.target.conf/foo.conf", Any, false},
		{"foo.target.requires/plain.socket", Any, false},

		// Where suggest.ValidateUnitName, units.ValidUnitName and
		// unitprops.ValidateUnit gave different answers.
		{"a@b@c.service", Any, true},
		{`a\.service`, Any, true},
		{"a..service", Any, true},
		{".a.service", Any, true},
		{"foo.target", Any, true},
		// And more of systemd's rules.
		{`x\x2dy.scope`, Any, true},
		{"a b.service", Any, false},
		{"a.service\n", Any, false},
		{"../x.service", Any, false},
		{"ü.service", Any, false},
		{"noext", Any, false},
		{"a.timer", Any, true},
		{"a.Service", Any, false},
		{strings.Repeat("a", Max-len(".service")) + ".service", Any, true},
		{strings.Repeat("a", Max-len(".service")+1) + ".service", Any, false},
	}
	for _, tt := range tests {
		if got := Valid(tt.name, tt.forms); got != tt.want {
			t.Errorf("Valid(%q, %03b) = %v, want %v", tt.name, tt.forms, got, tt.want)
		}
		err := Validate(tt.name, tt.forms)
		if (err == nil) != tt.want || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("Validate(%q, %03b) = %v, want valid=%v", tt.name, tt.forms, err, tt.want)
		}
	}
}

func TestValidateMessage(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"nginx":           `invalid unit name "nginx": no unit type suffix (.service, .socket, .mount, .timer, ...)`,
		"a/b.service":     `invalid unit name "a/b.service": character '/' is not allowed`,
		"@x.service":      `invalid unit name "@x.service": it starts with '@'`,
		"":                `invalid unit name "": empty`,
		"x@.service":      `invalid unit name "x@.service": a template name (no instance after '@') is not allowed here`,
		"x\x1b[1m.socket": `invalid unit name "x\x1b[1m.socket": character '\x1b' is not allowed`,
	} {
		err := Validate(name, Plain|Instance)
		if err == nil || err.Error() != want {
			t.Errorf("Validate(%q) = %v, want %s", name, err, want)
		}
	}
}

func TestType(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"a.service": "service", "a@b.socket": "socket", "x@.mount": "mount", "-.slice": "slice",
		"foo.target": "target", "a.waldo": "", ".service": "", "a/b.swap": "",
	} {
		if got := Type(name); got != want {
			t.Errorf("Type(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestHasExecContext(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"a.service": true, "a.socket": true, "-.mount": true, "dev-sda2.swap": true, "getty@tty1.service": true,
		"a.scope": false, "a.slice": false, "a.target": false, "a.timer": false, "a.path": false,
		"a.device": false, "a.automount": false, "a/b.service": false, "a": false,
	} {
		if got := HasExecContext(name); got != want {
			t.Errorf("HasExecContext(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestComplete: systemctl's unit_name_mangle_with_suffix(".service") on
// names it does not escape (test-unit-name.c: "foo" -> "foo.service").
func TestComplete(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"foo": "foo.service", "foo.service": "foo.service", "ux-demo": "ux-demo.service",
		"getty@tty1": "getty@tty1.service", "a.socket": "a.socket", "foo.waldo": "foo.waldo.service",
		"": "", "sshd.scope": "sshd.scope",
	} {
		if got := Complete(name); got != want {
			t.Errorf("Complete(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzValid: a valid name is one safe path component with a type, and
// Complete leaves it alone.
func FuzzValid(f *testing.F) {
	for _, s := range []string{"a.service", "getty@tty1.service", "../x.service", "a/b.service", "@.service", "x", ".a.service", `a\.service`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !Valid(name, Any) {
			if Validate(name, Any) == nil {
				t.Fatalf("Validate accepts %q, Valid does not", name)
			}
			return
		}
		if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || path.Base(name) != name || len(name) > Max {
			t.Fatalf("Valid accepted %q", name)
		}
		if Type(name) == "" || Complete(name) != name {
			t.Fatalf("valid %q: type %q, complete %q", name, Type(name), Complete(name))
		}
	})
}

// TestRefs: a user unit reference is user@UID.service/NAME with a
// canonical decimal UID and a valid NAME; anything else is a plain unit
// name or invalid. Ref and SplitUserRef are each other's inverse.
func TestRefs(t *testing.T) {
	for _, tc := range []struct {
		ref      string
		complete string // CompleteRef
		uid      int    // -1: not a user unit reference
		unit     string
		valid    bool // ValidateRef after CompleteRef
	}{
		{"nginx.service", "nginx.service", -1, "", true},
		{"nginx", "nginx.service", -1, "", true},
		{"user@1000.service", "user@1000.service", -1, "", true}, // the manager itself: a system unit
		{"user@1000.service/app.service", "user@1000.service/app.service", 1000, "app.service", true},
		{"user@1000.service/app", "user@1000.service/app.service", 1000, "app.service", true},
		{"user@0.service/a@b.service", "user@0.service/a@b.service", 0, "a@b.service", true},
		{"user@2147483647.service/a.socket", "user@2147483647.service/a.socket", 2147483647, "a.socket", true},
		{"user@2147483648.service/a.service", "user@2147483648.service/a.service", -1, "", false},
		{"user@01000.service/a.service", "user@01000.service/a.service", -1, "", false},
		{"user@+1.service/a.service", "user@+1.service/a.service", -1, "", false},
		{"user@.service/a.service", "user@.service/a.service", -1, "", false},
		{"user@1000.service/", "user@1000.service/", 1000, "", false},
		{"user@1000.service/a/b.service", "user@1000.service/a/b.service", 1000, "a/b.service", false},
		{"user@1000.service/../x.service", "user@1000.service/../x.service", 1000, "../x.service", false},
		{"system.slice/a.service", "system.slice/a.service", -1, "", false},
		{"a.service/b.service", "a.service/b.service", -1, "", false},
	} {
		c := CompleteRef(tc.ref)
		if c != tc.complete {
			t.Errorf("CompleteRef(%q) = %q, want %q", tc.ref, c, tc.complete)
		}
		uid, unit, ok := SplitUserRef(c)
		if (tc.uid >= 0) != ok || ok && (uid != tc.uid || unit != tc.unit) {
			t.Errorf("SplitUserRef(%q) = %d, %q, %v; want %d, %q", c, uid, unit, ok, tc.uid, tc.unit)
		}
		err := ValidateRef(c, Any)
		if (err == nil) != tc.valid || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateRef(%q) = %v, want valid %v", c, err, tc.valid)
		}
		if tc.valid && ok && Ref(unit, true, uid) != c {
			t.Errorf("Ref(%q, true, %d) = %q, want %q", unit, uid, Ref(unit, true, uid), c)
		}
	}
	if Ref("a.service", false, 1000) != "a.service" {
		t.Error("a system unit's reference is its name")
	}
}

// FuzzRef: a valid reference is a valid unit name, or user@UID.service/
// followed by one (so it has exactly one '/', never "..", and splits back
// to what Ref joins).
func FuzzRef(f *testing.F) {
	for _, s := range []string{"a.service", "user@1000.service/a.service", "user@01.service/a.service", "user@1.service/../a.service", "user@1.service//a.service"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if ValidateRef(ref, Any) != nil {
			return
		}
		uid, unit, ok := SplitUserRef(ref)
		if !ok {
			if !Valid(ref, Any) {
				t.Fatalf("ValidateRef accepts %q, Valid does not", ref)
			}
			return
		}
		if !Valid(unit, Any) || Ref(unit, true, uid) != ref || strings.Count(ref, "/") != 1 {
			t.Fatalf("valid user reference %q: uid %d, unit %q", ref, uid, unit)
		}
	})
}
