package sandbox

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// directivesTSV is the committed table of what each seccomp-backed
// directive filters, per systemd version (see the file's header).
//
//go:embed directives.tsv
var directivesTSV string

// Rule is one row of directives.tsv: the calls one directive filters in a
// range of systemd versions.
type Rule struct {
	// Directive is the unit setting, e.g. "MemoryDenyWriteExecute".
	Directive string
	// Since and Until bound the systemd versions the rule holds for
	// (Until 0: every later version).
	Since, Until int
	// Calls are syscall names or @groups.
	Calls []string
	// Argument is empty when every call of Calls is denied; otherwise it
	// says which argument decides (the record does not carry it).
	Argument string
	// Errno is what the denied call returns, e.g. "EPERM".
	Errno string
	// Benign: systemd answers with ENOSYS on purpose and callers fall back.
	Benign bool
	// Lift is the change that lifts the denial ("" when none can be
	// proposed from a record alone).
	Lift string
	// Source says where systemd does it and how it was checked.
	Source string
}

// Holds reports whether the rule applies to systemd version v.
func (r Rule) Holds(v int) bool {
	return v >= r.Since && (r.Until == 0 || v <= r.Until)
}

// Rules returns every row of the table, in file order.
func Rules() []Rule { return rules() }

var rules = sync.OnceValue(func() []Rule {
	rs, err := parseRules(directivesTSV)
	if err != nil {
		panic(err) // the committed file is checked by TestRulesParse
	}
	return rs
})

// parseRules parses directives.tsv.
func parseRules(text string) ([]Rule, error) {
	var out []Rule
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			return nil, fmt.Errorf("sandbox: directives.tsv:%d: %d columns, want 9", i+1, len(f))
		}
		r := Rule{Directive: f[0], Calls: strings.Fields(f[3]), Argument: f[4], Errno: f[5], Benign: f[6] == "yes", Source: f[8]}
		var err error
		if r.Since, err = strconv.Atoi(f[1]); err != nil {
			return nil, fmt.Errorf("sandbox: directives.tsv:%d: since: %v", i+1, err)
		}
		if f[2] != "-" {
			if r.Until, err = strconv.Atoi(f[2]); err != nil {
				return nil, fmt.Errorf("sandbox: directives.tsv:%d: until: %v", i+1, err)
			}
		}
		if f[7] != "-" {
			r.Lift = f[7]
		}
		if f[6] != "yes" && f[6] != "no" {
			return nil, fmt.Errorf("sandbox: directives.tsv:%d: benign must be yes or no", i+1)
		}
		if strings.Contains(r.Argument, "; ") {
			return nil, fmt.Errorf("sandbox: directives.tsv:%d: an argument is one clause (reasons are split at \"; \")", i+1)
		}
		if r.Directive == "" || len(r.Calls) == 0 || r.Errno == "" || r.Source == "" {
			return nil, fmt.Errorf("sandbox: directives.tsv:%d: empty column", i+1)
		}
		out = append(out, r)
	}
	return out, nil
}

// Directives are the settings other than SystemCallFilter= and
// SystemCallArchitectures= that systemd turns into seccomp filters, in the
// order verdicts list them.
var Directives = []string{
	"MemoryDenyWriteExecute", "RestrictAddressFamilies", "RestrictNamespaces",
	"LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "ProtectHostname",
	"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
	"ProtectClock", "PrivateDevices",
}

// IsDirective reports whether name is SystemCallFilter,
// SystemCallArchitectures or one of Directives: what --allow accepts besides
// syscall names.
func IsDirective(name string) bool {
	if name == "SystemCallFilter" || name == "SystemCallArchitectures" {
		return true
	}
	for _, d := range Directives {
		if d == name {
			return true
		}
	}
	return false
}
