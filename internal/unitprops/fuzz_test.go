package unitprops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedUnitFiles adds every fixture unit file and drop-in as a seed.
func seedUnitFiles(f *testing.F) {
	f.Helper()
	_ = filepath.WalkDir("testdata/root", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink != 0 || d.IsDir() {
			return nil
		}
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
		return nil
	})
}

// FuzzParseUnitFile: any content parses or fails cleanly, and merging what
// parsed never panics.
func FuzzParseUnitFile(f *testing.F) {
	seedUnitFiles(f)
	f.Add([]byte("[Service]\nSystemCallFilter=a \\\n# c\n b\\"))
	f.Add([]byte("[Service]\nExecStart=\"\\x41\n[\n=\n"))
	table := testTable()
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := parseUnitFile(data)
		if err != nil {
			return
		}
		for _, o := range opts {
			if strings.Contains(o.Value, "\n") {
				t.Fatalf("continuation left in %q", o.Value)
			}
		}
		m := newMerger("Service", table)
		m.add("fuzz.service", opts)
		var p Props
		m.fill(&p, func(s string) string { return s })
	})
}

// FuzzExecBinaries: the Exec*= word parser never panics and returns no
// empty names; absolute names come back cleaned.
func FuzzExecBinaries(f *testing.F) {
	for _, s := range []string{
		"/usr/bin/foo --x", "-@/usr/bin/foo argv0 ; !!+/bin/b", `"/usr/bin/a b" c`,
		`'unterminated`, `\x41\`, "; ;", "relname", "%%h/x", "|/bin/sh -c 'x ; y'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, b := range ExecBinaries(v) {
			if b == "" {
				t.Fatalf("empty binary from %q", v)
			}
			if strings.HasPrefix(b, "/") && utf8.ValidString(b) && strings.Contains(b, "//") {
				t.Fatalf("uncleaned path %q from %q", b, v)
			}
		}
	})
}
