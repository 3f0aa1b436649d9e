package unitprops

import (
	"context"
	"fmt"
	"slices"
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

// ServicesByMainPID returns the services whose last main process had pid
// (ExecMainPID, which systemd keeps after the process ended), with how it
// ended. It asks only the services that can hold a main process that died
// of a signal: those named in candidates (e.g. the unit whose ExecStart=
// runs the record's exe) and those that systemd shows failed or waiting to
// be restarted (auto-restart). A service whose main process was killed is
// in one of these states until it is started again; one that is running
// has a live main process, and the caller asks about a process that is
// gone. It costs one D-Bus call to list the units, one per service asked,
// and three more per match.
func (d *DBus) ServicesByMainPID(ctx context.Context, pid int, candidates []string) ([]MainProcess, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("unitprops: pid %d", pid)
	}
	conn, _, _, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d.opts.CallTimeout) }
	cctx, cancel := call()
	us, err := conn.ListUnitsByPatternsContext(cctx, nil, []string{"*.service"})
	cancel()
	if err != nil {
		return nil, d.failed(conn, "list services", err)
	}
	prop := func(unit, name string) (dbus.Variant, error) {
		cctx, cancel := call()
		defer cancel()
		p, err := conn.GetUnitTypePropertyContext(cctx, unit, "Service", name)
		if err != nil {
			return dbus.Variant{}, d.failed(conn, name+" of "+unit, err)
		}
		return p.Value, nil
	}
	var out []MainProcess
	for _, u := range us {
		if u.LoadState != "loaded" || (u.ActiveState != "failed" && u.SubState != "auto-restart" && !slices.Contains(candidates, u.Name)) {
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
