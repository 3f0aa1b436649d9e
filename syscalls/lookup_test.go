package syscalls

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestNameNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		arch Arch
		nr   int
		name string
	}{
		{ArchX86_64, 0, "read"},
		{ArchX86_64, 41, "socket"},
		{ArchX86_64, 165, "mount"},
		{ArchI386, 102, "socketcall"},
		{ArchI386, 359, "socket"},
		{ArchX32, 41 | X32Bit, "socket"},
		{ArchX32, 514 | X32Bit, "ioctl"},
		{ArchX32, 512 | X32Bit, "rt_sigaction"},
		{ArchAArch64, 198, "socket"},
		{ArchAArch64, 40, "mount"},
		{ArchARM, 281, "socket"},
		{ArchARM, 0xf0002, "cacheflush"},
		{ArchARM, 0xf0005, "set_tls"},
		{ArchRISCV64, 198, "socket"},
		{ArchRISCV64, 259, "riscv_flush_icache"},
		{ArchPPC64LE, 326, "socket"},
		{ArchS390X, 359, "socket"},
		{ArchS390X, 342, "s390_runtime_instr"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.arch, tc.nr), func(t *testing.T) {
			t.Parallel()
			got, ok := Name(tc.arch, tc.nr)
			if !ok || got != tc.name {
				t.Errorf("Name(%s, %d) = %q, %v; want %q", tc.arch, tc.nr, got, ok, tc.name)
			}
			nr, ok := Number(tc.arch, tc.name)
			if !ok || nr != tc.nr {
				t.Errorf("Number(%s, %q) = %d, %v; want %d", tc.arch, tc.name, nr, ok, tc.nr)
			}
		})
	}
}

func TestX32(t *testing.T) {
	t.Parallel()
	// Audit logs x32 calls with the bit; Name accepts both spellings.
	for _, nr := range []int{514, 514 | X32Bit} {
		if got, ok := Name(ArchX32, nr); !ok || got != "ioctl" {
			t.Errorf("Name(x32, %#x) = %q, %v; want ioctl", nr, got, ok)
		}
	}
	// x32 has no x86_64 compat-only ioctl at 16 (it uses 514) and no
	// uselib.
	if _, ok := Name(ArchX32, 16|X32Bit); ok {
		t.Errorf("Name(x32, 16|bit) found a syscall; x32 ioctl is 514")
	}
	if _, ok := Number(ArchX32, "uselib"); ok {
		t.Errorf("Number(x32, uselib) found; x32 has no uselib")
	}
	// Kernel structure: x32 numbers below 512 are the x86_64 "common" rows,
	// so every such x32 syscall has the same number on x86_64.
	n := 0
	for _, name := range SyscallNames(ArchX32) {
		nr, _ := Number(ArchX32, name)
		if nr&^X32Bit >= 512 {
			continue
		}
		n++
		if nr&X32Bit == 0 {
			t.Errorf("Number(x32, %s) = %#x lacks X32Bit", name, nr)
		}
		if want, ok := Number(ArchX86_64, name); !ok || want != nr&^X32Bit {
			t.Errorf("%s: x32 %d, x86_64 %d (%v)", name, nr&^X32Bit, want, ok)
		}
	}
	if n < 300 {
		t.Errorf("only %d x32 syscalls below 512", n)
	}
}

func TestUnknown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arch Arch
		nr   int
	}{{ArchX86_64, -1}, {ArchX86_64, 100000}, {ArchUnknown, 0}, {Arch(200), 0}, {ArchX86_64, X32Bit}} {
		if got, ok := Name(tc.arch, tc.nr); ok {
			t.Errorf("Name(%d, %d) = %q; want not found", tc.arch, tc.nr, got)
		}
	}
	for _, name := range []string{"", "no_such_syscall", "@mount", "READ"} {
		if nr, ok := Number(ArchX86_64, name); ok {
			t.Errorf("Number(x86_64, %q) = %d; want not found", name, nr)
		}
		if Known(name) {
			t.Errorf("Known(%q) = true", name)
		}
		if m := Numbers(name); m != nil {
			t.Errorf("Numbers(%q) = %v; want nil", name, m)
		}
	}
	if _, ok := Number(ArchUnknown, "read"); ok {
		t.Error("Number(ArchUnknown, read) found")
	}
}

func TestNumbers(t *testing.T) {
	t.Parallel()
	got := Numbers("socket")
	want := map[Arch]int{
		ArchX86_64: 41, ArchI386: 359, ArchX32: 41 | X32Bit, ArchAArch64: 198,
		ArchARM: 281, ArchRISCV64: 198, ArchPPC64LE: 326, ArchS390X: 359,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Numbers(socket) = %v; want %v", got, want)
	}
	// arm-only syscall.
	if got := Numbers("breakpoint"); len(got) != 1 || got[ArchARM] != 0xf0001 {
		t.Errorf("Numbers(breakpoint) = %v", got)
	}
	if !Known("socketcall") || !Known("open_tree") {
		t.Error("Known is false for a real syscall")
	}
}

func TestEveryEntryRoundTrips(t *testing.T) {
	t.Parallel()
	for _, a := range Arches() {
		names := SyscallNames(a)
		if len(names) < 250 {
			t.Errorf("%s: only %d syscalls", a, len(names))
		}
		if !sort.StringsAreSorted(names) {
			t.Errorf("%s: SyscallNames not sorted", a)
		}
		seen := make(map[int]string)
		for _, name := range names {
			nr, ok := Number(a, name)
			if !ok {
				t.Fatalf("%s: Number(%q) not found", a, name)
			}
			if other, dup := seen[nr]; dup {
				t.Errorf("%s: %s and %s share %d", a, other, name, nr)
			}
			seen[nr] = name
			if back, ok := Name(a, nr); !ok || back != name {
				t.Errorf("%s: Name(Number(%q)=%d) = %q, %v", a, name, nr, back, ok)
			}
		}
	}
}

// xsysKnownDifferences lists syscalls whose golang.org/x/sys/unix constant
// (lower-cased, SYS_ removed) differs from libseccomp's name or number, per
// GOARCH; each entry explains why. Anything else that differs fails the
// cross-check.
var xsysKnownDifferences = map[string]map[string]string{
	"*": {
		// x/sys exports every __NR_ constant of the kernel's unistd.h,
		// including these markers, which are not syscalls.
		"arch_specific_syscall": "asm-generic base of the arch-specific range (244), not a syscall",
		"syscall_mask":          "arm OABI marker __NR_SYSCALL_MASK, not a syscall",
	},
}

var xsysConstRE = regexp.MustCompile(`^\s*SYS_([A-Z0-9_]+)\s*=\s*([0-9]+)\s*$`)

// readXSys parses golang.org/x/sys/unix's zsysnum_linux_GOARCH.go.
func readXSys(t *testing.T, dir, goarch string) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "unix", "zsysnum_linux_"+goarch+".go"))
	if err != nil {
		t.Fatalf("x/sys table: %v", err)
	}
	defer f.Close()
	m := make(map[string]int)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sub := xsysConstRE.FindStringSubmatch(sc.Text()); sub != nil {
			nr, err := strconv.Atoi(sub[2])
			if err != nil {
				t.Fatalf("%s: %q: %v", goarch, sc.Text(), err)
			}
			m[strings.ToLower(sub[1])] = nr
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(m) < 250 {
		t.Fatalf("%s: only %d constants parsed", goarch, len(m))
	}
	return m
}

func xsysDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Fatalf("go list -m golang.org/x/sys: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("go list -m golang.org/x/sys: module not downloaded")
	}
	return dir
}

// TestCrossCheckXSys compares the generated tables with golang.org/x/sys's
// per-GOARCH constants, which come from the kernel headers rather than from
// libseccomp: every syscall both know must have the same number, and every
// x/sys syscall must be in our table unless xsysKnownDifferences says why.
func TestCrossCheckXSys(t *testing.T) {
	t.Parallel()
	dir := xsysDir(t)
	for _, tc := range []struct {
		goarch string
		arch   Arch
	}{
		{"amd64", ArchX86_64}, {"386", ArchI386}, {"arm", ArchARM}, {"arm64", ArchAArch64},
		{"riscv64", ArchRISCV64}, {"ppc64le", ArchPPC64LE}, {"s390x", ArchS390X},
	} {
		t.Run(tc.goarch, func(t *testing.T) {
			t.Parallel()
			xs := readXSys(t, dir, tc.goarch)
			allowed := func(name string) (string, bool) {
				if why, ok := xsysKnownDifferences[tc.goarch][name]; ok {
					return why, true
				}
				why, ok := xsysKnownDifferences["*"][name]
				return why, ok
			}
			var names []string
			for name := range xs {
				names = append(names, name)
			}
			sort.Strings(names)
			matched, ours := 0, len(SyscallNames(tc.arch))
			for _, name := range names {
				want := xs[name]
				got, ok := Number(tc.arch, name)
				if ok && got == want {
					matched++
					continue
				}
				if why, ok := allowed(name); ok {
					t.Logf("%s: %s: known difference: %s", tc.goarch, name, why)
					continue
				}
				if !ok {
					t.Errorf("%s: x/sys SYS_%s = %d is not in our table", tc.goarch, strings.ToUpper(name), want)
				} else {
					t.Errorf("%s: %s: ours %d, x/sys %d", tc.goarch, name, got, want)
				}
			}
			t.Logf("%s: %d of %d x/sys constants match; our table has %d syscalls", tc.goarch, matched, len(xs), ours)
		})
	}
}

func ExampleName() {
	name, _ := Name(ArchX86_64, 165)
	fmt.Println(name)
	// An x32 call as audit logs it: arch=c000003e, syscall=1073741865.
	arch, _ := FromAudit(AuditArchX86_64, 1073741865)
	name, _ = Name(arch, 1073741865)
	fmt.Println(arch, name)
	// Output:
	// mount
	// x32 socket
}

func ExampleNumbers() {
	m := Numbers("socket")
	for _, a := range Arches() {
		fmt.Printf("%s=%#x ", a, m[a])
	}
	fmt.Println()
	// Output: x86_64=0x29 i386=0x167 x32=0x40000029 aarch64=0xc6 arm=0x119 riscv64=0xc6 ppc64le=0x146 s390x=0x167
}

func BenchmarkName(b *testing.B) {
	for b.Loop() {
		if _, ok := Name(ArchX86_64, 165); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkNumber(b *testing.B) {
	for b.Loop() {
		if _, ok := Number(ArchAArch64, "mount"); !ok {
			b.Fatal("not found")
		}
	}
}
