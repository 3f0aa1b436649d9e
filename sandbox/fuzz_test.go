package sandbox

import (
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// FuzzParseRules: the table parser never panics and keeps only whole rows.
func FuzzParseRules(f *testing.F) {
	f.Add(directivesTSV)
	f.Add("X\t1\t-\tread\t\tEPERM\tno\tX=no\tsrc\n")
	f.Add("X\tz\t-\t\t\t\tmaybe\t-\t\n")
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := parseRules(text)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Directive == "" || len(r.Calls) == 0 || r.Source == "" {
				t.Fatalf("incomplete rule %+v", r)
			}
		}
	})
}

// FuzzJudge: any assignment text, then any call, never panics, and a
// verdict with deniers always names a directive.
func FuzzJudge(f *testing.F) {
	f.Add("SystemCallFilter", "~@mount:EPERM read", "mount", "errno")
	f.Add("RestrictAddressFamilies", "~AF_INET none", "socket", "errno")
	f.Add("DynamicUser", "yes", "chmod", "errno")
	f.Add("SystemCallArchitectures", "native x86", "open", "kill_thread")
	tb, _ := syscalls.Bundled("252")
	f.Fuzz(func(t *testing.T, key, value, name, action string) {
		sb := &Sandbox{Known: true}
		for _, v := range strings.Split(value, "\n") {
			if key == "SystemCallFilter" {
				sb.Filter.Assign(v, Source{File: "f", Line: 1}, tb, true)
			} else {
				sb.Assign(key, v, Source{File: "f", Line: 1})
			}
		}
		sb.Resolve()
		v := Judge(sb, tb, Call{Syscall: name, Arch: syscalls.ArchX86_64, Native: true, Actions: []string{action}})
		if len(v.Deniers) > 0 && v.Directive() == "" {
			t.Fatalf("verdict %+v without a directive", v)
		}
	})
}
