package exposure

import (
	"context"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// TestScoreDropIn: a hardening drop-in lowers systemd's own score of the
// same unit file, and a later drop-in that undoes it raises it again (the
// order is systemd's).
func TestScoreDropIn(t *testing.T) {
	ctx := context.Background()
	frag := "[Unit]\nDescription=t\n[Service]\nExecStart=/bin/true\n"
	before, err := Score(ctx, "t.service", frag, nil)
	if err == ErrNoAnalyze {
		testutil.Unavailable(t, "needs systemd-analyze (scripts/setup.sh installs systemd)")
	}
	if err != nil {
		t.Fatal(err)
	}
	harden := DropIn{"50-x.conf", "[Service]\nMemoryDenyWriteExecute=yes\nSystemCallArchitectures=native\nRestrictNamespaces=yes\nLockPersonality=yes\n"}
	after, err := Score(ctx, "t.service", frag, []DropIn{harden})
	if err != nil {
		t.Fatal(err)
	}
	undo := DropIn{"10-undo.conf", "[Service]\nMemoryDenyWriteExecute=no\nRestrictNamespaces=no\nLockPersonality=no\n"}
	undone, err := Score(ctx, "t.service", frag, []DropIn{harden, undo})
	if err != nil {
		t.Fatal(err)
	}
	if !(after < before && undone > after) {
		t.Errorf("scores: before %.1f, hardened %.1f, hardened then undone %.1f", before, after, undone)
	}
}
