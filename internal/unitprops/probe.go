package unitprops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// ProbeFilter asks the systemd at address ("" for the system bus) what it
// makes of an allow-list of values alone (SystemCallFilter= names and
// @groups): it creates a transient service holding only
// SystemCallFilter=VALUES (its start is a no-op: a condition that never
// holds, so no process runs), reads the service's merged SystemCallFilter
// property and lets the unit go. The answer is the set of names systemd
// resolved: a name it lacks is one this systemd (its libseccomp) cannot
// resolve, since nothing else restricts the probe. systemd adds @default to
// every allow-list, so the set holds those names too.
//
// It is the evidence for a name missing from a unit's merged filter: seen
// in the VM, Debian's systemd 252 lists uretprobe and riscv_hwprobe in
// @system-service, and bookworm's libseccomp 2.5.4 resolves neither, so
// systemd leaves them out of every unit's filter.
func ProbeFilter(ctx context.Context, address string, values []string) (map[string]bool, error) {
	if len(values) == 0 {
		return map[string]bool{}, nil
	}
	if address == "" {
		address = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if address == "" {
		address = DefaultSystemBusAddress
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := dialAuth(ctx, address, false)
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %w", ErrNoDBus, address, err)
	}
	// Closing the connection drops the unit's reference (AddRef): systemd
	// then collects it.
	defer c.Close()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("seccompwatch-probe-%d-%s.service", os.Getpid(), hex.EncodeToString(rnd[:]))
	type prop struct {
		Name  string
		Value dbus.Variant
	}
	type execStart struct {
		Path          string
		Args          []string
		UncleanIsFail bool
	}
	type condition struct {
		Type    string
		Trigger bool
		Negate  bool
		Param   string
	}
	filter := struct {
		AllowList bool
		Names     []string
	}{true, slices.Clone(values)}
	props := []prop{
		{"Description", dbus.MakeVariant("seccompwatch: what this systemd makes of SystemCallFilter=" + strings.Join(values, " ") + " (no process runs)")},
		{"DefaultDependencies", dbus.MakeVariant(false)},
		{"CollectMode", dbus.MakeVariant("inactive-or-failed")},
		// Pinned by this connection until it closes: the unit stays
		// loaded for the read below however soon its start ends.
		{"AddRef", dbus.MakeVariant(true)},
		// "/" always exists: the condition never holds, the start
		// does nothing.
		{"Conditions", dbus.MakeVariant([]condition{{"ConditionPathExists", false, true, "/"}})},
		{"ExecStart", dbus.MakeVariant([]execStart{{"/bin/true", []string{"/bin/true"}, false}})},
		{"SystemCallFilter", dbus.MakeVariant(filter)},
	}
	var job dbus.ObjectPath
	mgr := c.Object(systemdBusName, systemdPath)
	if err := mgr.CallWithContext(ctx, managerIface+".StartTransientUnit", 0, name, "fail", props, []struct {
		Name  string
		Props []prop
	}{}).Store(&job); err != nil {
		return nil, classify("start the probe unit "+name, err)
	}
	var path dbus.ObjectPath
	if err := mgr.CallWithContext(ctx, managerIface+".GetUnit", 0, name).Store(&path); err != nil {
		return nil, classify("the probe unit "+name, err)
	}
	var v dbus.Variant
	if err := c.Object(systemdBusName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
		"org.freedesktop.systemd1.Service", "SystemCallFilter").Store(&v); err != nil {
		return nil, classify("SystemCallFilter of the probe unit "+name, err)
	}
	var got boolStrings
	if err := dbus.Store([]any{v.Value()}, &got); err != nil {
		return nil, fmt.Errorf("unitprops: SystemCallFilter of the probe unit %s: %w", name, err)
	}
	if !got.Flag {
		return nil, errors.New("unitprops: the probe unit's SystemCallFilter is not an allow-list")
	}
	_ = c.Object(systemdBusName, path).CallWithContext(ctx, "org.freedesktop.systemd1.Unit.Unref", 0).Err
	out := make(map[string]bool, len(got.Names))
	for _, n := range got.Names {
		n, _, _ = strings.Cut(n, ":")
		out[n] = true
	}
	return out, nil
}
