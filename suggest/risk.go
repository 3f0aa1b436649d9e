package suggest

import (
	"strings"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// RiskyGroups are the groups whose members are risky unless
// @system-service also has them (SPEC.md "Risk").
var RiskyGroups = []string{
	"@clock", "@cpu-emulation", "@debug", "@module", "@mount",
	"@obsolete", "@privileged", "@raw-io", "@reboot", "@swap",
}

// SystemService is the group whose members are never risky.
const SystemService = "@system-service"

// Risk reports whether granting syscall widens a sandbox dangerously: it is
// in one of RiskyGroups and not in @system-service, in table t. The reason
// names the groups, e.g. "risky: in @mount, not in @system-service". With
// no table the risk cannot be judged and the call counts as risky.
func Risk(t *syscalls.Table, syscall string) (risky bool, reason string) {
	if t == nil {
		return true, "risk unknown: no syscall group table"
	}
	if t.InGroup(syscall, SystemService) {
		return false, ""
	}
	var in []string
	for _, g := range RiskyGroups {
		if t.InGroup(syscall, g) {
			in = append(in, g)
		}
	}
	if len(in) == 0 {
		return false, ""
	}
	return true, "risky: in " + strings.Join(in, " ") + ", not in " + SystemService
}
