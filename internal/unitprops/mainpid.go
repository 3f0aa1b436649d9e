package unitprops

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// MainProcess is what systemd remembers of a service's last main process
// after it ended: its pid (ExecMainPID), how it ended (ExecMainCode and
// ExecMainStatus, as waitid(2) reported them) and when systemd saw it end
// (ExecMainExitTimestamp).
type MainProcess struct {
	Unit string
	PID  int
	// Code is si_code: CLDExited, CLDKilled, CLDDumped; 0 while it runs.
	Code int32
	// Status is the exit status, or the signal that killed it.
	Status int32
	// Exit is when systemd saw it end (zero while it runs).
	Exit time.Time
}

// waitid(2) si_code values of ExecMainCode.
const (
	CLDExited = 1
	CLDKilled = 2
	CLDDumped = 3
)

// ServicesByMainPID returns the loaded services whose last main process
// had pid (ExecMainPID, which systemd keeps after the process ended), with
// how it ended. Services running now are skipped: a running service's main
// process is alive, and the caller asks about a process that is gone. It
// costs one D-Bus call per loaded service that is not running, and three
// more per match: for the rare record whose process left no other trace.
func (d *DBus) ServicesByMainPID(ctx context.Context, pid int) ([]MainProcess, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("unitprops: pid %d", pid)
	}
	conn, _, _, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	us, err := conn.ListUnitsByPatternsContext(cctx, nil, []string{"*.service"})
	if err != nil {
		return nil, d.failed(conn, "list services", err)
	}
	prop := func(unit, name string) (dbus.Variant, error) {
		p, err := conn.GetUnitTypePropertyContext(cctx, unit, "Service", name)
		if err != nil {
			return dbus.Variant{}, d.failed(conn, name+" of "+unit, err)
		}
		return p.Value, nil
	}
	var out []MainProcess
	for _, u := range us {
		if u.LoadState != "loaded" || (u.ActiveState == "active" && u.SubState == "running") {
			continue
		}
		v, err := prop(u.Name, "ExecMainPID")
		if err != nil {
			return nil, err
		}
		if p, _ := v.Value().(uint32); int(p) != pid {
			continue
		}
		m := MainProcess{Unit: u.Name, PID: pid}
		if v, err = prop(u.Name, "ExecMainCode"); err != nil {
			return nil, err
		}
		m.Code, _ = v.Value().(int32)
		if v, err = prop(u.Name, "ExecMainStatus"); err != nil {
			return nil, err
		}
		m.Status, _ = v.Value().(int32)
		if v, err = prop(u.Name, "ExecMainExitTimestamp"); err != nil {
			return nil, err
		}
		if us, _ := v.Value().(uint64); us > 0 {
			m.Exit = time.UnixMicro(int64(us))
		}
		out = append(out, m)
	}
	return out, nil
}
