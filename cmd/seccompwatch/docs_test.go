package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// buildProgram builds the real program with go build and extra flags.
func buildProgram(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seccompwatch")
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDocsGenerated runs scripts/gen-docs.sh (what `make docs` and a
// package build run) on the real program, and checks that the man page is
// a gzipped man page man can render, naming every command and the version,
// and that the bash completion completes a command and its flags.
func TestDocsGenerated(t *testing.T) {
	bin := buildProgram(t, "-ldflags", "-X github.com/prometheus/common/version.Version=9.8.7")
	out := t.TempDir()
	if b, err := exec.Command("../../scripts/gen-docs.sh", bin, out).CombinedOutput(); err != nil {
		t.Fatalf("gen-docs.sh: %v\n%s", err, b)
	}
	gz, err := os.Open(filepath.Join(out, "man/man1/seccompwatch.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatalf("man page not gzipped: %v", err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte(".TH seccompwatch 1 ")) || !bytes.Contains(page[:bytes.IndexByte(page, '\n')], []byte("9.8.7")) {
		t.Errorf("man page header: %q", page[:min(len(page), 80)])
	}
	if _, err := exec.LookPath("man"); err != nil {
		testutil.Unavailable(t, "no man (scripts/setup.sh installs man-db)")
	}
	rendered, err := exec.Command("man", "-l", "-P", "cat", gz.Name()).Output()
	if err != nil {
		t.Fatalf("man -l: %v", err)
	}
	for _, c := range []string{"replay", "suggest", "explain", "run", "denials", "version", "--web.listen-address", "SECCOMPWATCH_SERVER"} {
		if !bytes.Contains(rendered, []byte(c)) {
			t.Errorf("rendered man page lacks %q", c)
		}
	}
	bash := filepath.Join(out, "completions/bash/seccompwatch")
	if _, err := os.Stat(filepath.Join(out, "completions/zsh/_seccompwatch")); err != nil {
		t.Error(err)
	}
	// Complete "seccompwatch sugg" and "seccompwatch denials --o" in bash,
	// with the program on PATH as a package installs it.
	script := `source "$1"; COMP_WORDS=(seccompwatch sugg); COMP_CWORD=1; _seccompwatch_bash_autocomplete; echo "${COMPREPLY[*]}";` +
		` COMP_WORDS=(seccompwatch denials --o); COMP_CWORD=2; _seccompwatch_bash_autocomplete; echo "${COMPREPLY[*]}"`
	cmd := exec.Command("bash", "-c", script, "bash", bash)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash completion: %v", err)
	}
	if want := "suggest\n--output\n"; string(got) != want {
		t.Errorf("bash completion = %q, want %q", got, want)
	}
}

// TestMakefileSudo: make test asks for sudo only when not root (a minimal
// Debian's root shell has no sudo).
func TestMakefileSudo(t *testing.T) {
	testutil.RequireRoot(t, "comparing root with an unprivileged user")
	asRoot, err := exec.Command("make", "-n", "-C", "../..", "test").Output()
	if err != nil {
		t.Fatal(err)
	}
	asUser, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "make", "-n", "-C", "../..", "test").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(asRoot), "sudo") || !strings.Contains(string(asRoot), "./scripts/setup.sh") {
		t.Errorf("as root:\n%s", asRoot)
	}
	if strings.Count(string(asUser), "sudo env \"PATH=") != 2 {
		t.Errorf("as a user:\n%s", asUser)
	}
}
