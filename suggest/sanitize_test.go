package suggest

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"/usr/sbin/nginx", 0, "/usr/sbin/nginx"},
		{"a\nb", 0, `a\x0ab`},
		{"\r\n[Service]", 0, `\x0d\x0a[Service]`},
		{"\x1b[2J", 0, `\x1b[2J`},
		{"%n%%", 0, "%%n%%%%"},
		{`C:\x`, 0, `C:\\x`},
		{"bad\xff\xfeutf8", 0, `bad\xff\xfeutf8`},
		{"tab\there\x7f", 0, `tab\x09here\x7f`},
		{"bidi\u202ex\u2028y\u00a0z", 0, `bidi\u{202e}x\u{2028}y\u{a0}z`},
		{"naïve ☃", 0, "naïve ☃"},
		{strings.Repeat("a", 100), 40, strings.Repeat("a", 25) + "...[+75 bytes]"},
		{strings.Repeat("\n", 100), 40, strings.Repeat(`\x0a`, 6) + "...[+94 bytes]"},
		{strings.Repeat("a", 40), 40, strings.Repeat("a", 40)},
		{strings.Repeat("a", 10), 1, strings.Repeat("a", 10)},
	}
	for _, tc := range tests {
		if got := Sanitize(tc.in, tc.max); got != tc.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// checkSanitized asserts the invariants of Sanitize's output.
func checkSanitized(t *testing.T, in, out string, max int) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Sanitize(%q) = %q: invalid UTF-8", in, out)
	}
	for _, r := range out {
		if !unicode.IsPrint(r) || r == '\u00a0' {
			t.Fatalf("Sanitize(%q) = %q: non-printable %U", in, out, r)
		}
	}
	if strings.HasSuffix(out, `\`) && !strings.HasSuffix(out, `\\`) {
		t.Fatalf("Sanitize(%q) = %q ends in a lone backslash", in, out)
	}
	// Every % is doubled: no specifier survives.
	if strings.Count(out, "%")%2 != 0 || strings.Contains(strings.ReplaceAll(out, "%%", ""), "%") {
		t.Fatalf("Sanitize(%q) = %q has a lone %%", in, out)
	}
	if max < minValueLen {
		max = minValueLen
	}
	if len(out) > max {
		t.Fatalf("Sanitize(%q, %d) is %d bytes long", in, max, len(out))
	}
	if out == in && !isPlain(in) && utf8.ValidString(in) {
		for _, r := range in {
			if r < 0x20 || r == 0x7f || r == '\\' || r == '%' {
				t.Fatalf("Sanitize(%q) left it unchanged", in)
			}
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\x1b[2J", "%n", "\xff", `\`, strings.Repeat("é", 300), hostileComm} {
		f.Add(s, 0)
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max > 1<<20 || max < -1 {
			max = 0
		}
		out := Sanitize(s, max)
		checkSanitized(t, s, out, func() int {
			if max <= 0 {
				return MaxValueLen
			}
			return max
		}())
		// Output not truncated unescapes to the input (valid UTF-8 only).
		if utf8.ValidString(s) && !strings.Contains(out, "...[+") {
			if back := unescape(out); back != s {
				t.Fatalf("unescape(Sanitize(%q)) = %q", s, back)
			}
		}
	})
}

// unescape reverses Sanitize for valid UTF-8 input (test helper).
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+1 < len(s) && s[i+1] == '%':
			b.WriteByte('%')
			i++
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case strings.HasPrefix(s[i:], `\x`) && i+3 < len(s):
			var v byte
			for _, c := range []byte(s[i+2 : i+4]) {
				v = v<<4 | hexVal(c)
			}
			b.WriteByte(v)
			i += 3
		case strings.HasPrefix(s[i:], `\u{`):
			end := strings.IndexByte(s[i:], '}')
			var r rune
			for _, c := range []byte(s[i+3 : i+end]) {
				r = r<<4 | rune(hexVal(c))
			}
			b.WriteRune(r)
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// TestHostileDropin renders drop-ins with hostile comm, exe, unit and
// machine values and checks that go-systemd's parser sees exactly the
// expected SystemCallFilter= options.
func TestHostileDropin(t *testing.T) {
	long := strings.Repeat("A", 10<<10)
	values := []string{
		"x\n[Service]\nExecStart=/bin/sh",
		"x\r[Service]\rExecStart=/bin/sh",
		"\x1b[2J\x1b]0;title\a",
		"%n%H%i",
		"bad\xff\xfe\xc0",
		long,
		long + "\n[Service]\nExecStart=/bin/sh\\",
		"trailing backslash\\",
		"quote\"\nSystemCallFilter=@mount\\",
		"\u202eevil\u2066",
	}
	for i, v := range values {
		for _, unit := range []string{"app.service", "unattributed:" + v, v} {
			d := den(unit, "socket", "kill_process", exe(v))
			d.Comm, d.Machine = v, v
			d2 := den(unit, "bind", "kill_process")
			d2.Machine = v
			for _, risky := range []bool{false, true} {
				s := Compute(aggregate(t, d, d2), &Policy{Known: true, AllowList: true, Names: []string{"read"}, ExecPaths: []string{"/usr/sbin/app"}},
					Options{Table: testTable(t), Generator: v, AllowRisky: risky})
				var buf bytes.Buffer
				if err := RenderDropin(&buf, s); err != nil {
					t.Fatal(err)
				}
				opts, err := parseUnit(buf.String())
				if err != nil {
					t.Fatalf("value %d: does not parse: %v", i, err)
				}
				var got []string
				for _, o := range opts {
					got = append(got, o.Section+":"+o.Name+"="+o.Value)
				}
				var want []string
				if s.Applicable {
					want = append(want, "Service:SystemCallFilter=bind")
					if risky {
						want = append(want, "Service:SystemCallFilter=socket")
					}
				}
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("value %d, unit %.40q, allow-risky %v: options %q, want %q\n%s", i, unit, risky, got, want, buf.String())
				}
				checkLines(t, buf.String())
				if bytes.ContainsAny(buf.Bytes(), "\r\x1b\a") {
					t.Errorf("value %d: raw control characters in output", i)
				}
				var js bytes.Buffer
				if err := RenderJSON(&js, []Suggestion{s}); err != nil {
					t.Fatal(err)
				}
				if bytes.ContainsAny(js.Bytes(), "\r\x1b\a") || !utf8.Valid(js.Bytes()) {
					t.Errorf("value %d: raw control characters or bad UTF-8 in JSON", i)
				}
			}
		}
	}
}

func FuzzRenderDropin(f *testing.F) {
	f.Add("app.service", "", "/usr/sbin/app", "app", "socket", "kill_process", false, false)
	f.Add("unattributed:/x", "m", "/tmp/x", "x\n[Service]", "mount", "errno", true, true)
	f.Add("x.service", hostileComm, hostileComm, hostileComm, "read", "log", true, false)
	f.Add("a@b.service", "", "\xff\\", "%n", "clone3", "errno", false, true)
	tb := testTable(f)
	f.Fuzz(func(t *testing.T, unit, machine, exePath, comm, sc, action string, risky, group bool) {
		d := den(unit, "socket", action, exe(exePath))
		d.Machine, d.Comm = machine, comm
		d2 := den(unit, sc, action, exe(exePath))
		d2.Machine = machine
		gran := GranularitySyscall
		if group {
			gran = GranularityGroup
		}
		s := Compute(aggregate(t, d, d2), &Policy{Known: true, AllowList: true, Names: []string{"read"}, ExecPaths: []string{exePath}},
			Options{Table: tb, Generator: comm, AllowRisky: risky, Granularity: gran})
		var buf bytes.Buffer
		if err := RenderDropin(&buf, s); err != nil {
			t.Fatal(err)
		}
		opts, err := parseUnit(buf.String())
		if err != nil {
			t.Fatalf("does not parse: %v\n%s", err, buf.String())
		}
		for _, o := range opts {
			if o.Section != "Service" || o.Name != "SystemCallFilter" || !s.Applicable {
				t.Fatalf("unexpected option [%s] %s=%s\n%s", o.Section, o.Name, o.Value, buf.String())
			}
			v := strings.ReplaceAll(strings.TrimPrefix(o.Value, "@"), "-", "_")
			if !validSyscallName(v) {
				t.Fatalf("invalid value %q", o.Value)
			}
			if strings.HasPrefix(o.Value, "@") {
				if !tb.HasGroup(o.Value) {
					t.Fatalf("unknown group %q", o.Value)
				}
			} else if _, ok := syscalls.Number(syscalls.ArchX86_64, o.Value); !ok && o.Value != sc {
				t.Fatalf("value %q is neither a known syscall nor the denied one", o.Value)
			}
		}
		checkLines(t, buf.String())
	})
}
