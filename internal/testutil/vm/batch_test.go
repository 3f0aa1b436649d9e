package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKernelTrouble(t *testing.T) {
	for _, tc := range []struct {
		name, console, want string
	}{
		{"quiet", "[    1.0] systemd[1]: started\n[    2.0] e2e-run[147]: e2e: 00-boot: exit 0\n", ""},
		{"lockup", "[  548.1] e2e: 91-chrony: exit 0\n[  570.2] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [seccompwatch:3998]\n[  570.2] RIP: 0010:smp_call_function_many_cond+0x1\n[  570.2] Call Trace:\n[  598.2] watchdog: BUG: soft lockup - CPU#1 stuck for 48s! [seccompwatch:3998]\n",
			"[  570.2] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [seccompwatch:3998]\n[  570.2] RIP: 0010:smp_call_function_many_cond+0x1\n[  570.2] Call Trace:"},
		{"stall first", "x\n[ 10.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n[ 10.0] rcu: \t1-...!: (0 ticks this GP)\n[ 11.0] Kernel panic - not syncing: softlockup: hung tasks\n",
			"[ 10.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n[ 10.0] rcu: \t1-...!: (0 ticks this GP)\n[ 11.0] Kernel panic - not syncing: softlockup: hung tasks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "console.log")
			if err := os.WriteFile(p, []byte(tc.console), 0o644); err != nil {
				t.Fatal(err)
			}
			got := (&Report{Console: p}).KernelTrouble(3)
			if got != tc.want {
				t.Errorf("KernelTrouble(3) = %q, want %q", got, tc.want)
			}
		})
	}
	if got := (&Report{Console: "/nonexistent/console.log"}).KernelTrouble(3); got != "" {
		t.Errorf("no console: %q", got)
	}
	if !strings.Contains(strings.Join(Args(&Image{}, Options{Console: "c", Share: "s"}), " "), "softlockup_panic=1") {
		t.Error("the guest does not panic on a soft lockup")
	}
}
