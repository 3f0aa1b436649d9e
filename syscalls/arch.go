package syscalls

import (
	"fmt"
	"strconv"
	"strings"
)

// Arch is a system call ABI as seen in audit records: the record's
// AUDIT_ARCH_* value, refined by the x32 bit of the syscall number. Its
// String form is the spelling auditd uses (x86_64, i386, x32, ...).
type Arch uint8

// The ABIs seccompwatch has tables for. ArchUnknown is any other AUDIT_ARCH
// value; the record keeps the raw value so that nothing is lost.
const (
	ArchUnknown Arch = iota
	ArchX86_64
	ArchI386
	ArchX32
	ArchAArch64
	ArchARM
	ArchRISCV64
	ArchPPC64LE
	ArchS390X
)

// X32Bit is __X32_SYSCALL_BIT: x32 calls arrive with AUDIT_ARCH_X86_64 and
// this bit set in the syscall number.
const X32Bit = 0x40000000

// AUDIT_ARCH_* values (linux/audit.h) of the supported ABIs.
const (
	AuditArchX86_64  uint32 = 0xc000003e
	AuditArchI386    uint32 = 0x40000003
	AuditArchAArch64 uint32 = 0xc00000b7
	AuditArchARM     uint32 = 0x40000028
	AuditArchRISCV64 uint32 = 0xc00000f3
	AuditArchPPC64LE uint32 = 0xc0000015
	AuditArchS390X   uint32 = 0x80000016
)

var archInfo = [...]struct {
	name    string // audit spelling
	systemd string // SystemCallArchitectures= spelling
	audit   uint32
}{
	ArchUnknown: {"unknown", "", 0},
	ArchX86_64:  {"x86_64", "x86-64", AuditArchX86_64},
	ArchI386:    {"i386", "x86", AuditArchI386},
	ArchX32:     {"x32", "x32", AuditArchX86_64},
	ArchAArch64: {"aarch64", "arm64", AuditArchAArch64},
	ArchARM:     {"arm", "arm", AuditArchARM},
	ArchRISCV64: {"riscv64", "riscv64", AuditArchRISCV64},
	ArchPPC64LE: {"ppc64le", "ppc64-le", AuditArchPPC64LE},
	ArchS390X:   {"s390x", "s390x", AuditArchS390X},
}

// Arches lists every known ABI in a fixed order.
func Arches() []Arch {
	return []Arch{ArchX86_64, ArchI386, ArchX32, ArchAArch64, ArchARM, ArchRISCV64, ArchPPC64LE, ArchS390X}
}

// String returns the audit spelling of a, e.g. "x86_64" or "x32".
func (a Arch) String() string {
	if int(a) < len(archInfo) {
		return archInfo[a].name
	}
	return "unknown"
}

// SystemdName returns the spelling systemd uses in SystemCallArchitectures=
// (e.g. "x86-64"), or "" for ArchUnknown.
func (a Arch) SystemdName() string {
	if int(a) < len(archInfo) {
		return archInfo[a].systemd
	}
	return ""
}

// AuditValue returns the AUDIT_ARCH_* value records carry for a (x32 shares
// x86_64's value), or 0 for ArchUnknown.
func (a Arch) AuditValue() uint32 {
	if int(a) < len(archInfo) {
		return archInfo[a].audit
	}
	return 0
}

// FromAudit maps a record's arch= value and syscall number to an ABI. It
// returns ArchUnknown and false for an AUDIT_ARCH value without a table.
func FromAudit(auditArch uint32, nr int) (Arch, bool) {
	switch auditArch {
	case AuditArchX86_64:
		if nr >= 0 && nr&X32Bit != 0 {
			return ArchX32, true
		}
		return ArchX86_64, true
	case AuditArchI386:
		return ArchI386, true
	case AuditArchAArch64:
		return ArchAArch64, true
	case AuditArchARM:
		return ArchARM, true
	case AuditArchRISCV64:
		return ArchRISCV64, true
	case AuditArchPPC64LE:
		return ArchPPC64LE, true
	case AuditArchS390X:
		return ArchS390X, true
	}
	return ArchUnknown, false
}

// ParseArch accepts an audit spelling ("x86_64", "i386", "x32", "aarch64",
// "arm", "riscv64", "ppc64le", "s390x"), the common aliases ausearch and
// systemd print ("x86-64", "amd64", "arm64", "armeb", "ppc64-le", "i686",
// "x86"), or a hexadecimal AUDIT_ARCH value ("c000003e").
func ParseArch(s string) (Arch, bool) {
	switch strings.ToLower(s) {
	case "x86_64", "x86-64", "amd64":
		return ArchX86_64, true
	case "i386", "i486", "i586", "i686", "x86":
		return ArchI386, true
	case "x32":
		return ArchX32, true
	case "aarch64", "arm64":
		return ArchAArch64, true
	case "arm", "armeb", "armv7l", "armv7":
		return ArchARM, true
	case "riscv64":
		return ArchRISCV64, true
	case "ppc64le", "ppc64-le":
		return ArchPPC64LE, true
	case "s390x":
		return ArchS390X, true
	}
	if v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32); err == nil {
		return FromAudit(uint32(v), 0)
	}
	return ArchUnknown, false
}

// ArchLabel returns the record schema's spelling of an ABI: its name, or
// "unknown:<hex>" with the raw AUDIT_ARCH value when there is no table.
func ArchLabel(a Arch, auditArch uint32) string {
	if a == ArchUnknown {
		return fmt.Sprintf("unknown:%x", auditArch)
	}
	return a.String()
}
