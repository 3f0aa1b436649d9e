package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// selectTable returns the table --systemd.table names; a value that names
// no table is a usage error (exit 2), like any other bad flag value.
func selectTable(pin string) (*syscalls.Table, error) {
	t, err := syscalls.Select(context.Background(), pin)
	if errors.Is(err, syscalls.ErrUnknownTable) {
		return nil, usagef("--systemd.table: %v", err)
	}
	return t, err
}

// tableFlag adds --systemd.table to a command.
func tableFlag(c *kingpin.CmdClause) *string {
	return c.Flag("systemd.table", "Which systemd group table to use: auto (the host's systemd-analyze, else the newest bundled), host, or a bundled version such as 252.").
		Default("auto").String()
}

func registerExplain(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("explain", `Explain a syscall, a systemd group, or an arch and number.

Examples:
  seccompwatch explain socket            # numbers per arch, groups, risk
  seccompwatch explain @mount            # what the group contains
  seccompwatch explain x86_64 41         # which syscall a record's number is
  seccompwatch explain --output json swapoff`)
	output := c.Flag("output", "text or json.").Default("text").Enum("text", "json")
	table := tableFlag(c)
	args := c.Arg("what", "NAME, @group, or ARCH NR.").Required().Strings()
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
	Risky          []string `json:"risky"`
	InGroups       []string `json:"in_groups"`
	SystemdVersion string   `json:"systemd_version"`
}

func explain(e *env, t *syscalls.Table, args []string, output string) error {
	var name string
	switch {
	case len(args) == 1 && strings.HasPrefix(args[0], "@"):
		return explainGroup(e, t, args[0], output)
	case len(args) == 1:
		name = args[0]
		if !syscalls.Known(name) && t.Groups(name) == nil {
			return usagef("unknown syscall %q (try: seccompwatch explain ARCH NUMBER, or @group)", name)
		}
	case len(args) == 2:
		arch, ok := syscalls.ParseArch(args[0])
		if !ok {
			return usagef("unknown arch %q (x86_64, i386, x32, aarch64, arm, riscv64, ppc64le, s390x)", args[0])
		}
		nr, err := strconv.ParseInt(args[1], 0, 64)
		if err != nil {
			return usagef("bad syscall number %q", args[1])
		}
		if arch == syscalls.ArchX86_64 && nr&syscalls.X32Bit != 0 {
			arch = syscalls.ArchX32
		}
		n, ok := syscalls.Name(arch, int(nr))
		if !ok {
			return fmt.Errorf("%s has no syscall number %d", arch, nr)
		}
		name = n
	default:
		return usagef("explain takes NAME, @group, or ARCH NR")
	}
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
	if output == "json" {
		return writeJSON(e, f)
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

func explainGroup(e *env, t *syscalls.Table, group, output string) error {
	if !t.HasGroup(group) {
		return usagef("unknown group %q in %s (known: %s)", group, t.Source, strings.Join(t.GroupNames(), " "))
	}
	f := groupFacts{Group: group, Syscalls: t.Members(group), Risky: []string{}, InGroups: []string{}, SystemdVersion: t.Source}
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
	if output == "json" {
		return writeJSON(e, f)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (%d syscalls, table: %s)\n", group, len(f.Syscalls), t.Source)
	fmt.Fprintf(w, "  syscalls:  %s\n", orNone(strings.Join(f.Syscalls, " ")))
	fmt.Fprintf(w, "  risky:     %s\n", orNone(strings.Join(f.Risky, " ")))
	fmt.Fprintf(w, "  within:    %s\n", orNone(strings.Join(f.InGroups, " ")))
	return nil
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
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
