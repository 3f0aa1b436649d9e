package event

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

func sample() Event {
	return Event{
		Record: auditstream.Record{
			File: "audit.log", Line: 7,
			Time:   time.Date(2025, 8, 9, 14, 22, 10, 314e6, time.UTC),
			Serial: 88, HasSerial: true,
			PID: 1234, UID: auditstream.ID{N: 0}, AUID: auditstream.ID{N: auditstream.UnsetID}, GID: auditstream.ID{Name: "root"},
			Comm: "deny", Exe: "/usr/bin/deny",
			AuditArch: syscalls.AuditArchX86_64, Arch: syscalls.ArchX86_64, Syscall: 41,
			Signal: 31, Action: auditstream.ActionKillProcess,
		},
		SyscallName: "socket",
		Groups:      []string{"@network-io", "@system-service"},
		Unit:        "nginx.service",
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return m
}

func TestAppendJSONKeys(t *testing.T) {
	e := sample()
	m := decode(t, e.AppendJSON(nil, JSONOptions{}))
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"action", "arch", "auid", "comm", "compat", "errno", "exe", "file", "gid", "groups", "line", "node", "pid", "serial", "signal", "syscall", "syscall_nr", "time", "uid", "unit"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	checks := map[string]any{
		"file": "audit.log", "line": 7.0, "time": "2025-08-09T14:22:10.314Z", "serial": 88.0,
		"pid": 1234.0, "uid": 0.0, "auid": 4294967295.0, "gid": "root", "exe": "/usr/bin/deny",
		"arch": "x86_64", "syscall_nr": 41.0, "syscall": "socket", "compat": false, "signal": 31.0,
		"action": "kill_process", "errno": 0.0, "unit": "nginx.service",
	}
	for k, v := range checks {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

func TestAppendJSONNulls(t *testing.T) {
	e := sample()
	e.File, e.Line, e.Time, e.HasSerial, e.ExeUnknown, e.Exe = "", 0, time.Time{}, false, true, ""
	e.Unit, e.SyscallName = "", ""
	e.Arch, e.AuditArch = syscalls.ArchUnknown, 0xc0000008
	m := decode(t, e.AppendJSON(nil, JSONOptions{Live: true}))
	for _, k := range []string{"file", "line", "time", "serial", "exe", "node", "machine", "candidate_unit"} {
		if v, ok := m[k]; !ok || v != nil {
			t.Errorf("%s = %#v, want null", k, v)
		}
	}
	if m["unit"] != "unknown" || m["syscall"] != "unknown" || m["arch"] != "unknown:c0000008" {
		t.Errorf("unit/syscall/arch = %v/%v/%v", m["unit"], m["syscall"], m["arch"])
	}
}

// An unconfirmed exe attribution is a lead in "candidate_unit", live
// only; replay keeps the documented keys.
func TestAppendJSONCandidate(t *testing.T) {
	e := sample()
	e.Unit, e.Reason, e.CandidateUnit = "", "pid_gone", "sshd.service"
	m := decode(t, e.AppendJSON(nil, JSONOptions{Live: true}))
	if m["unit"] != "unknown" || m["candidate_unit"] != "sshd.service" || m["attribution"] != "failed:pid_gone" {
		t.Errorf("unit %v candidate_unit %v attribution %v", m["unit"], m["candidate_unit"], m["attribution"])
	}
	if _, ok := decode(t, e.AppendJSON(nil, JSONOptions{}))["candidate_unit"]; ok {
		t.Error("replay output has candidate_unit")
	}
}

// A record from a central log keeps its host in "node".
func TestAppendJSONNode(t *testing.T) {
	e := sample()
	e.Node = "web1.example.org"
	if m := decode(t, e.AppendJSON(nil, JSONOptions{})); m["node"] != "web1.example.org" {
		t.Errorf("node = %#v", m["node"])
	}
}

func TestAppendStringHostile(t *testing.T) {
	for _, s := range []string{
		"plain", "new\nline\n[Service]\nExecStart=/bin/sh", "\x1b[2J\x1b]0;pwn\x07", "quote\"back\\slash",
		"bad\xff\xfeutf8", "\u2028\u2029", "<script>&", "\x00\x7f", strings.Repeat("é", 1000),
	} {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, b, err)
		}
		if want := perByte(s); got != want {
			t.Errorf("%q: round trip = %q, want %q", s, got, want)
		}
		for _, c := range b {
			if c < 0x20 || c == 0x7f {
				t.Errorf("%q: raw control byte %#x in output %q", s, c, b)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\xff", "\u2028", "\x1b[0m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		if !utf8.Valid(b) {
			t.Fatalf("output not UTF-8: %q", b)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		if want := perByte(s); got != want {
			t.Fatalf("round trip %q -> %q, want %q", s, got, want)
		}
	})
}

// perByte replaces each invalid UTF-8 byte with U+FFFD, as AppendString
// does.
func perByte(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// TestAppendTime: the hand-written time form is what AppendFormat gives
// with the schema's layout, for times across the years, in any zone.
func TestAppendTime(t *testing.T) {
	zone := time.FixedZone("X", -7*3600)
	for _, tt := range []time.Time{
		time.Date(2025, 8, 9, 14, 22, 10, 314e6, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2001, 2, 3, 4, 5, 6, 7e6, zone),
		time.Unix(1613596317, 899e6),
		time.Date(12, 3, 4, 5, 6, 7, 1e6, time.UTC),
	} {
		want := tt.UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z07:00")
		if got := AppendTime(nil, tt); string(got) != string(want) {
			t.Errorf("AppendTime(%v) = %s, want %s", tt, got, want)
		}
	}
}

// TestJSONCache: the JSON written through a JSONCache is the JSON written
// without one, for strings and group lists seen again (cache hits), seen
// for the first time, sharing a slot, and needing escapes.
func TestJSONCache(t *testing.T) {
	groups := [][]string{{"@system-service", "@default"}, {"@privileged"}, nil, {"<&>\u2028"}}
	strs := []string{"nginx", "/usr/sbin/nginx", "a\"b\\c\n", "\xff\xfe", "<script>", strings.Repeat("x", 300), ""}
	var evs []Event
	for i := 0; i < 3000; i++ {
		var e Event
		e.Comm = strs[i%len(strs)]
		e.Exe = strs[(i/3)%len(strs)]
		if i%5 == 0 {
			e.Exe = strings.Clone(e.Exe) // the same text at another address
		}
		e.Unit = strs[(i/7)%len(strs)]
		e.Groups = groups[i%len(groups)]
		if i%11 == 0 && e.Groups != nil {
			e.Groups = append([]string(nil), e.Groups...)
		}
		evs = append(evs, e)
	}
	cache := new(JSONCache)
	for _, e := range append(evs, evs...) {
		want := string(e.AppendJSON(nil, JSONOptions{}))
		if got := string(e.AppendJSON(nil, JSONOptions{Cache: cache})); got != want {
			t.Fatalf("with the cache:\n%s\nwithout:\n%s", got, want)
		}
	}
}

// TestJSONCacheTimes: the time written through a JSONCache (the form of
// the last second kept) is the time written without one, for records in
// the same second, the next, an earlier one, years beyond the four
// digits and none.
func TestJSONCacheTimes(t *testing.T) {
	base := time.Unix(1763712000, 3e6)
	times := []time.Time{base, base.Add(5 * time.Millisecond), base.Add(time.Second), base, base.Add(-time.Second + 999*time.Millisecond),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), {}, time.Unix(0, 0), time.Unix(0, 999e6),
		time.Date(-1, 1, 1, 0, 0, 0, 5e6, time.UTC), time.Date(2001, 2, 3, 4, 5, 6, 7e6, time.FixedZone("X", 3600))}
	cache := new(JSONCache)
	for i, tt := range append(times, times...) {
		e := Event{}
		e.Time = tt
		want := string(e.AppendJSON(nil, JSONOptions{}))
		if got := string(e.AppendJSON(nil, JSONOptions{Cache: cache})); got != want {
			t.Fatalf("%d: with the cache:\n%s\nwithout:\n%s", i, got, want)
		}
	}
}

// TestAppendUint: the in-place digits are strconv's, at every length and
// around every power of ten, for appendUint and appendInt (negatives
// included).
func TestAppendUint(t *testing.T) {
	vs := []uint64{0, 1, 9, 99, 4294967295, 1<<64 - 1, 1 << 63}
	for p := uint64(1); p <= 1e19 && p > 0; p *= 10 {
		vs = append(vs, p-1, p, p+1, p*9/10+7)
		if p == 1e19 {
			break
		}
	}
	for _, v := range vs {
		pre := []byte("x:")
		if got, want := appendUint(pre, v), strconv.AppendUint([]byte("x:"), v, 10); string(got) != string(want) {
			t.Errorf("appendUint(%d) = %s, want %s", v, got, want)
		}
		for _, i := range []int64{int64(v), -int64(v)} {
			if got, want := appendInt(nil, i), strconv.AppendInt(nil, i, 10); string(got) != string(want) {
				t.Errorf("appendInt(%d) = %s, want %s", i, got, want)
			}
		}
	}
}
