package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/internal/learndropin"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
)

// cleanLearning removes the learning drop-ins (internal/learndropin) that a
// `learn --method log` left below the units root when it was killed, and
// reloads systemd when it removed any, so that the unit is no longer
// unfiltered at its next start. A drop-in whose learn still runs is kept.
// The shipped unit runs as a system user that cannot write /run/systemd:
// there `seccompwatch learn-cleanup` does it as ExecStartPre=+, before
// this finds anything.
func (d *Daemon) cleanLearning(ctx context.Context) {
	found := learndropin.Clean(d.cfg.UnitsRoot)
	removed := 0
	for _, f := range found {
		fields := []zap.Field{zap.String("file", f.Path), zap.String("unit", f.Unit), zap.Int("learn_pid", f.Owner.PID)}
		switch {
		case f.Removed:
			removed++
			d.log.Warn("removed a learning drop-in a crashed seccompwatch learn left (the unit ran without its filter)", fields...)
		case f.Err != nil:
			d.log.Warn("a crashed seccompwatch learn left a learning drop-in that cannot be removed here: run seccompwatch learn-cleanup as root",
				append(fields, zap.Error(f.Err))...)
		default:
			d.log.Info("a learning drop-in of a running seccompwatch learn is kept", fields...)
		}
	}
	if removed == 0 {
		return
	}
	if d.cfg.DBusAddress == "none" {
		d.log.Warn("systemd not reloaded after removing learning drop-ins (--dbus.address=none): run systemctl daemon-reload")
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := unitprops.Reload(rctx, d.cfg.DBusAddress); err != nil {
		d.log.Warn("systemd not reloaded after removing learning drop-ins: run systemctl daemon-reload", zap.Error(err))
		return
	}
	d.log.Info("systemd reloaded after removing learning drop-ins", zap.Int("removed", removed))
}
