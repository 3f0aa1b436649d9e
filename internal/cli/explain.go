package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// selectTable returns the table --systemd.table names; a value that names
// no table is a usage error (exit 2), like any other bad flag value.
func selectTable(pin string) (*syscalls.Table, error) {
	t, err := syscalls.Select(context.Background(), pin)
	switch {
	case errors.Is(err, syscalls.ErrUnknownTable):
		return nil, usagef("--systemd.table: no such systemd table %q (choose auto, host or one of %s)", plainName(pin), strings.Join(syscalls.BundledVersions(), ", "))
	case errors.Is(err, syscalls.ErrNoHost):
		return nil, fmt.Errorf("--systemd.table host: this host's `systemd-analyze syscall-filter` gave no table (%s); use auto or one of %s", sanitizeLine(cause(err)), strings.Join(syscalls.BundledVersions(), ", "))
	}
	return t, err
}

// tableFlag adds --systemd.table to a command.
func tableFlag(c *kingpin.CmdClause) *string {
	return c.Flag("systemd.table", "Which systemd group table to use: auto (the host's systemd-analyze, else the newest bundled), host, or a bundled version such as 252.").
		Default("auto").String()
}

func registerExplain(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("explain", `Explain syscalls, systemd groups, or syscall numbers.

Names are case-insensitive; a number alone is one of this host's native ABI.

Examples:
  seccompwatch explain socket            # numbers per arch, groups, risk
  seccompwatch explain socket bind       # several at once
  seccompwatch explain @mount            # what the group contains
  seccompwatch explain @system-service   # and the groups it includes
  seccompwatch explain 41                # a number of this host's ABI
  seccompwatch explain x86_64 41         # which syscall a record's number is
  seccompwatch explain --output json swapoff`)
	output := c.Flag("output", "text, json (one document per name), or jsonl (one line per name).").Default("text").Enum("text", "json", "jsonl")
	table := tableFlag(c)
	args := c.Arg("what", "NAME, @group, NR, or ARCH NR; several may follow each other.").Required().Strings()
	cmds[c.FullCommand()] = func() error {
		t, err := selectTable(*table)
		if err != nil {
			return err
		}
		return explain(e, t, *args, *output)
	}
}

// syscallFacts is the JSON form of `explain NAME`.
type syscallFacts struct {
	Syscall        string         `json:"syscall"`
	Numbers        map[string]int `json:"numbers"`
	Groups         []string       `json:"groups"`
	SystemService  bool           `json:"system_service"`
	Risky          bool           `json:"risky"`
	Risk           string         `json:"risk"`
	SystemdVersion string         `json:"systemd_version"`
}

// groupFacts is the JSON form of `explain @group`.
type groupFacts struct {
	Group          string   `json:"group"`
	Syscalls       []string `json:"syscalls"`
	Includes       []string `json:"includes"`
	Risky          []string `json:"risky"`
	InGroups       []string `json:"in_groups"`
	SystemdVersion string   `json:"systemd_version"`
}

// explainItem is one thing to explain: a group, or a syscall name.
type explainItem struct {
	group string
	name  string
}

// parseExplain resolves the arguments of explain: @groups, names, numbers
// of the native ABI, and ARCH NR pairs. Every argument is checked before
// anything is printed.
func parseExplain(t *syscalls.Table, args []string) ([]explainItem, error) {
	var items []explainItem
	for i := 0; i < len(args); i++ {
		arg := strings.ToLower(strings.TrimSpace(args[i]))
		if strings.HasPrefix(arg, "@") {
			if !t.HasGroup(arg) {
				return nil, usagef("unknown group %q in %s%s", plainName(args[i]), t.Source, didYouMean(arg, t.GroupNames(), " (known: "+strings.Join(t.GroupNames(), " ")+")"))
			}
			items = append(items, explainItem{group: arg})
			continue
		}
		arch, nrArg := pipeline.NativeArch(), arg
		if a, ok := syscalls.ParseArch(arg); ok {
			if i+1 >= len(args) {
				return nil, usagef("%s needs a syscall number after it", plainName(args[i]))
			}
			arch, nrArg = a, strings.TrimSpace(args[i+1])
			i++
			if _, err := strconv.ParseInt(nrArg, 0, 64); err != nil {
				return nil, usagef("bad syscall number %q after %s", plainName(nrArg), arch)
			}
		}
		if nr, err := strconv.ParseInt(nrArg, 0, 64); err == nil {
			if arch == syscalls.ArchX86_64 && nr&syscalls.X32Bit != 0 {
				arch = syscalls.ArchX32
			}
			n, ok := syscalls.Name(arch, int(nr))
			if !ok {
				return nil, fmt.Errorf("%s has no syscall number %d", arch, nr)
			}
			items = append(items, explainItem{name: n})
			continue
		}
		if !syscalls.Known(arg) && t.Groups(arg) == nil {
			if i+1 < len(args) {
				if _, err := strconv.ParseInt(strings.TrimSpace(args[i+1]), 0, 64); err == nil {
					return nil, usagef("unknown arch %q (x86_64, i386, x32, aarch64, arm, riscv64, ppc64le, s390x)", plainName(args[i]))
				}
			}
			return nil, usagef("unknown syscall %q%s", plainName(args[i]), didYouMean(arg, knownNames(t), " (try: seccompwatch explain ARCH NUMBER, or @group)"))
		}
		items = append(items, explainItem{name: arg})
	}
	return items, nil
}

func explain(e *env, t *syscalls.Table, args []string, output string) error {
	items, err := parseExplain(t, args)
	if err != nil {
		return err
	}
	for i, it := range items {
		if i > 0 && output == "text" {
			fmt.Fprintln(e.stdout)
		}
		if it.group != "" {
			err = explainGroup(e, t, it.group, output)
		} else {
			err = explainSyscall(e, t, it.name, output)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func explainSyscall(e *env, t *syscalls.Table, name, output string) error {
	f := syscallFacts{
		Syscall:        name,
		Numbers:        map[string]int{},
		Groups:         t.Groups(name),
		SystemService:  t.InGroup(name, "@system-service"),
		SystemdVersion: t.Source,
	}
	if f.Groups == nil {
		f.Groups = []string{}
	}
	for a, nr := range syscalls.Numbers(name) {
		f.Numbers[a.String()] = nr
	}
	f.Risky, f.Risk = suggest.Risk(t, name)
	if output != "text" {
		return writeJSON(e, f, output)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s\n", name)
	fmt.Fprintf(w, "  numbers:        ")
	for _, a := range syscalls.Arches() {
		if nr, ok := f.Numbers[a.String()]; ok {
			fmt.Fprintf(w, "%s %d  ", a, nr)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  groups:         %s\n", orNone(strings.Join(f.Groups, " ")))
	fmt.Fprintf(w, "  @system-service: %s\n", yesNo(f.SystemService))
	risk := "not risky"
	if f.Risky {
		risk = "RISKY: " + f.Risk
	} else if f.Risk != "" {
		risk = f.Risk
	}
	fmt.Fprintf(w, "  risk:           %s\n", risk)
	fmt.Fprintf(w, "  table:          %s\n", t.Source)
	return nil
}

// knownNames are the names explain accepts: every ABI's syscalls and the
// table's group members.
func knownNames(t *syscalls.Table) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, a := range syscalls.Arches() {
		for _, n := range syscalls.SyscallNames(a) {
			add(n)
		}
	}
	for _, g := range t.GroupNames() {
		for _, n := range t.Members(g) {
			add(n)
		}
	}
	return names
}

// didYouMean returns "; did you mean X?" for the candidates closest to s
// (at most two edits, and fewer than half its length), else otherwise.
func didYouMean(s string, candidates []string, otherwise string) string {
	best, dist := []string(nil), 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if d > 2 || 2*d >= len(s) {
			continue
		}
		switch {
		case d < dist:
			best, dist = []string{c}, d
		case d == dist:
			best = append(best, c)
		}
	}
	if len(best) == 0 {
		return otherwise
	}
	sort.Strings(best)
	if len(best) > 3 {
		best = best[:3]
	}
	return "; did you mean " + strings.Join(best, " or ") + "?"
}

// editDistance is the Levenshtein distance of two ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func explainGroup(e *env, t *syscalls.Table, group, output string) error {
	f := groupFacts{Group: group, Syscalls: t.Members(group), Includes: t.Includes(group), Risky: []string{}, InGroups: []string{}, SystemdVersion: t.Source}
	if f.Includes == nil {
		f.Includes = []string{}
	}
	for _, s := range f.Syscalls {
		if r, _ := suggest.Risk(t, s); r {
			f.Risky = append(f.Risky, s)
		}
	}
	// Groups that contain every member of this one.
	for _, g := range t.GroupNames() {
		if g == group {
			continue
		}
		all := len(f.Syscalls) > 0
		for _, s := range f.Syscalls {
			if !t.InGroup(s, g) {
				all = false
				break
			}
		}
		if all {
			f.InGroups = append(f.InGroups, g)
		}
	}
	if output != "text" {
		return writeJSON(e, f, output)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (%d syscalls, table: %s)\n", group, len(f.Syscalls), t.Source)
	if d := t.Description(group); d != "" {
		fmt.Fprintf(w, "  about:     %s\n", d)
	}
	fmt.Fprintf(w, "  includes:  %s\n", orNone(strings.Join(f.Includes, " ")))
	fmt.Fprintf(w, "  syscalls:  %s\n", orNone(strings.Join(f.Syscalls, " ")))
	fmt.Fprintf(w, "  risky:     %s\n", orNone(strings.Join(f.Risky, " ")))
	fmt.Fprintf(w, "  within:    %s\n", orNone(strings.Join(f.InGroups, " ")))
	return nil
}

// writeJSON writes v as an indented JSON document (output json) or as one
// line (jsonl).
func writeJSON(e *env, v any, output string) error {
	enc := json.NewEncoder(e.stdout)
	if output != "jsonl" {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
