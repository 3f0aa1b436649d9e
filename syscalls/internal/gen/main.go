// Command gen generates the syscalls package's tables from committed inputs
// under testdata/. It fetches nothing and its output is deterministic, so
// `go generate ./syscalls/...` reproduces the committed files byte for byte.
//
// Subcommands run by go generate (see ../../gen.go):
//
//	gen tables -in testdata/syscalls.csv -out ztables.go
//	gen groups -out zgroups.go -md GROUPS.md testdata/systemd-252.txt testdata/systemd-256.txt
//
// Subcommands that refresh the committed inputs from upstream files that a
// maintainer obtained by hand (never run by go generate):
//
//	gen import-libseccomp -csv syscalls.csv -ref v2.6.1 -commit HASH -date YYYY-MM-DD -out testdata/syscalls.csv
//	gen import-systemd -c seccomp-util.c -list syscall-list.txt -ref v256 -commit HASH -date YYYY-MM-DD -out testdata/systemd-256.txt
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gen tables|groups|import-libseccomp|import-systemd [flags]")
	}
	fs := flag.NewFlagSet("gen "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "tables":
		in := fs.String("in", "", "derived libseccomp CSV")
		out := fs.String("out", "", "output Go file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *in == "" || *out == "" {
			return fmt.Errorf("tables: -in and -out are required")
		}
		return genTables(*in, *out)
	case "groups":
		out := fs.String("out", "", "output Go file")
		md := fs.String("md", "", "output Markdown file describing the differences")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || *md == "" || fs.NArg() == 0 {
			return fmt.Errorf("groups: -out, -md and at least one systemd-VERSION.txt are required")
		}
		return genGroups(fs.Args(), *out, *md)
	case "import-libseccomp":
		csv := fs.String("csv", "", "libseccomp src/syscalls.csv")
		p := provenanceFlags(fs)
		out := fs.String("out", "", "derived CSV to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *csv == "" || *out == "" {
			return fmt.Errorf("import-libseccomp: -csv and -out are required")
		}
		return importLibseccomp(*csv, *out, *p)
	case "import-systemd":
		c := fs.String("c", "", "systemd src/shared/seccomp-util.c")
		list := fs.String("list", "", "systemd src/basic/syscall-list.txt (for @known)")
		p := provenanceFlags(fs)
		out := fs.String("out", "", "systemd-VERSION.txt to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *c == "" || *list == "" || *out == "" {
			return fmt.Errorf("import-systemd: -c, -list and -out are required")
		}
		return importSystemd(*c, *list, *out, *p)
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// provenance names where an imported upstream file came from.
type provenance struct {
	repo, ref, commit, date string
}

func provenanceFlags(fs *flag.FlagSet) *provenance {
	p := &provenance{}
	fs.StringVar(&p.repo, "repo", "", "upstream repository, owner/name")
	fs.StringVar(&p.ref, "ref", "", "upstream tag")
	fs.StringVar(&p.commit, "commit", "", "upstream commit hash")
	fs.StringVar(&p.date, "date", "", "upstream commit date")
	return p
}

// writeFile writes data to path atomically enough for a generator: a
// temporary file in the same directory, then a rename.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
