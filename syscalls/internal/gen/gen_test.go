package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/syscalls/internal/analyze"
)

// A C fragment in the shape of systemd's seccomp-util.c, written for this
// test.
const filterSetsC = `
#include "seccomp-util.h"

static int unrelated(void) { return 0; }

const SyscallFilterSet syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {
        [SYSCALL_FILTER_SET_DEFAULT] = {
                .name = "@default",
                .help = "Always \"permitted\"",
                .value =
                "brk\0"      /* a trailing comment */
                "exit\0"
        },
        [SYSCALL_FILTER_SET_DEBUG] = {
                .name = "@debug",
                .help = "Debugging",
                .value =
                /* a comment
                 * over two lines */
                "ptrace\0"
#if defined __s390__
                "s390_runtime_instr\0"
#endif
        },
        [SYSCALL_FILTER_SET_SYSTEM_SERVICE] = {
                .name = "@system-service",
                .help = "General",
                .value =
                "@default\0"
                "read\0"
        },
        [SYSCALL_FILTER_SET_KNOWN] = {
                .name = "@known",
                .help = "All known",
                .value =
                "@default\0"
#include "syscall-list.h"
        },
};

const SyscallFilterSet *syscall_filter_set_find(const char *name) {
        return syscall_filter_sets[0].name ? NULL : NULL;
}
`

func TestParseFilterSets(t *testing.T) {
	t.Parallel()
	gs, err := parseFilterSets(strings.NewReader(filterSetsC), []string{"brk", "exit", "mount"})
	if err != nil {
		t.Fatal(err)
	}
	want := []analyze.Group{
		{Name: "@default", Description: `Always "permitted"`, Entries: []string{"brk", "exit"}},
		{Name: "@debug", Description: "Debugging", Entries: []string{"ptrace", "s390_runtime_instr"}},
		{Name: "@system-service", Description: "General", Entries: []string{"@default", "read"}},
		{Name: "@known", Description: "All known", Entries: []string{"@default", "brk", "exit", "mount"}},
	}
	if len(gs) != len(want) {
		t.Fatalf("got %+v", gs)
	}
	for i := range want {
		if gs[i].Name != want[i].Name || gs[i].Description != want[i].Description || !slices.Equal(gs[i].Entries, want[i].Entries) {
			t.Errorf("group %d = %+v; want %+v", i, gs[i], want[i])
		}
	}
	// What import-systemd writes reads back the same through the parser the
	// generator and the package use.
	var b bytes.Buffer
	writeAnalyze(&b, gs)
	back, err := analyze.Parse(&b)
	if err != nil || len(back) != len(gs) || !slices.Equal(back[3].Entries, gs[3].Entries) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestParseFilterSetsErrors(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"no array":     "int x;\n",
		"unterminated": "const SyscallFilterSet syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {\n [SYSCALL_FILTER_SET_A] = {\n .name = \"@a\",\n",
		"garbage":      "const SyscallFilterSet syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {\n [SYSCALL_FILTER_SET_A] = {\n .name = \"@a\",\n strcpy(x, y);\n },\n};\n",
		"no name":      "const SyscallFilterSet syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {\n [SYSCALL_FILTER_SET_A] = {\n \"read\\0\"\n },\n};\n",
		"empty array":  "const SyscallFilterSet syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {\n};\n",
		"no list":      "const SyscallFilterSet syscall_filter_sets[_SYSCALL_FILTER_SET_MAX] = {\n [SYSCALL_FILTER_SET_A] = {\n .name = \"@a\",\n#include \"syscall-list.h\"\n },\n};\n",
	} {
		if gs, err := parseFilterSets(strings.NewReader(in), nil); err == nil {
			t.Errorf("%s: got %+v; want error", name, gs)
		}
	}
}

const rawCSV = `#syscall (v9.9.0 2030-01-01),x86,x86_kver,x86_64,x86_64_kver,x32,x32_kver,arm,arm_kver,aarch64,aarch64_kver,ppc64,ppc64_kver,riscv64,riscv64_kver,s390x,s390x_kver
read,3,SCMP_KV_UNDEF,0,SCMP_KV_UNDEF,0,SCMP_KV_UNDEF,3,SCMP_KV_UNDEF,63,SCMP_KV_UNDEF,3,SCMP_KV_UNDEF,63,SCMP_KV_UNDEF,3,SCMP_KV_UNDEF
ioctl,54,SCMP_KV_UNDEF,16,SCMP_KV_UNDEF,514,SCMP_KV_UNDEF,54,SCMP_KV_UNDEF,29,SCMP_KV_UNDEF,54,SCMP_KV_UNDEF,29,SCMP_KV_UNDEF,54,SCMP_KV_UNDEF
socketcall,102,SCMP_KV_UNDEF,PNR,SCMP_KV_UNDEF,PNR,SCMP_KV_UNDEF,PNR,SCMP_KV_UNDEF,PNR,SCMP_KV_UNDEF,102,SCMP_KV_UNDEF,PNR,SCMP_KV_UNDEF,102,SCMP_KV_UNDEF
`

func TestDeriveAndRenderTables(t *testing.T) {
	t.Parallel()
	derived, err := deriveNumbers(strings.NewReader(rawCSV), provenance{repo: "o/r", ref: "v9", commit: "abc", date: "2030-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(derived, []byte("# kernel: v9.9.0 2030-01-01\n")) || !bytes.Contains(derived, []byte("\nioctl,16,54,514,29,54,29,54,54\n")) {
		t.Errorf("derived CSV:\n%s", derived)
	}
	nt, err := readNumbers(bytes.NewReader(derived))
	if err != nil {
		t.Fatal(err)
	}
	src, err := renderTables(nt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`const NumbersSource = "libseccomp v9 src/syscalls.csv (Linux v9.9.0)"`,
		"ArchX32: { // libseccomp column x32, 2 syscalls",
		`{514, "ioctl"},`,
		"ArchI386: { // libseccomp column x86, 3 syscalls",
	} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("rendered tables lack %q:\n%s", want, src)
		}
	}
	if !bytes.HasPrefix(src, []byte("// Code generated by \"go run ./internal/gen tables\"; DO NOT EDIT.\n")) {
		t.Errorf("bad header: %.80s", src)
	}
}

func TestReadNumbersErrors(t *testing.T) {
	t.Parallel()
	head := "# source: x\nname,x86_64,x86,x32,aarch64,arm,riscv64,ppc64,s390x\n"
	for name, in := range map[string]string{
		"no header":  "read,0\n",
		"bad number": head + "read,zero,3,0,63,3,63,3,3\n",
		"negative":   head + "read,-1,3,0,63,3,63,3,3\n",
		"dup name":   head + "read,0,3,0,63,3,63,3,3\nread,1,4,1,64,4,64,4,4\n",
		"dup number": head + "read,0,3,0,63,3,63,3,3\nwrite,0,4,1,64,4,64,4,4\n",
		"no column":  "name,x86_64\nread,0\n",
	} {
		if _, err := readNumbers(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"bogus"}, {"tables"}, {"groups", "-out", "x"}, {"import-libseccomp"}, {"import-systemd", "-c", "x"}} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run(%q) = nil; want error", args)
		}
	}
}

func TestGroupsFromCommittedInputs(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/systemd-*.txt")
	if len(files) < 2 {
		t.Fatalf("inputs: %v", files)
	}
	dir := t.TempDir()
	out, md := filepath.Join(dir, "z.go"), filepath.Join(dir, "G.md")
	if err := run(append([]string{"groups", "-out", out, "-md", md}, files...), io.Discard); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("Groups added: `@sandbox`")) {
		t.Errorf("GROUPS.md does not report @sandbox as new:\n%s", doc)
	}
	if err := run([]string{"groups", "-out", out, "-md", md, "testdata/syscalls.csv"}, io.Discard); err == nil {
		t.Error("groups accepted a file not named systemd-VERSION.txt")
	}
}
