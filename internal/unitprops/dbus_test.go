package unitprops

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
)

// roundTrip sends props through godbus' wire encoding as an a{sv}
// (the shape of Properties.GetAll) and returns what go-systemd would hand
// back (variant values).
func roundTrip(t *testing.T, props map[string]any) map[string]any {
	t.Helper()
	body := map[string]dbus.Variant{}
	for k, v := range props {
		body[k] = dbus.MakeVariant(v)
	}
	msg := &dbus.Message{
		Type: dbus.TypeSignal,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:      dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/systemd1/unit/x")),
			dbus.FieldInterface: dbus.MakeVariant("org.freedesktop.DBus.Properties"),
			dbus.FieldMember:    dbus.MakeVariant("GetAll"),
			dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf(body)),
		},
		Body: []any{body},
	}
	var buf bytes.Buffer
	if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := dbus.DecodeMessage(&buf)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var decoded map[string]dbus.Variant
	if err := dbus.Store(got.Body, &decoded); err != nil {
		t.Fatalf("store: %v", err)
	}
	out := map[string]any{}
	for k, v := range decoded {
		out[k] = v.Value()
	}
	return out
}

type wireExec struct {
	Path   string
	Args   []string
	Ignore bool
	T1     uint64
	T2     uint64
	T3     uint64
	T4     uint64
	PID    uint32
	Code   int32
	Status int32
}

func TestDecodePropsRoundTrip(t *testing.T) {
	t.Parallel()
	unitProps := roundTrip(t, map[string]any{
		"LoadState":    "loaded",
		"FragmentPath": "/etc/systemd/system/demo.service",
		"SourcePath":   "",
		"DropInPaths":  []string{"/etc/systemd/system/demo.service.d/50-seccompwatch.conf"},
		"Id":           "demo.service",
	})
	typeProps := roundTrip(t, map[string]any{
		"SystemCallFilter": struct {
			A bool
			N []string
		}{false, []string{"umount2", "mount:EPERM"}},
		"SystemCallLog": struct {
			A bool
			N []string
		}{true, []string{"read"}},
		"SystemCallErrorNumber":   int32(1),
		"SystemCallArchitectures": []string{"x86-64", "native"},
		"ExecStart":               []wireExec{{Path: "/usr/bin/demo", Args: []string{"demo", "-x"}}},
		"ExecStartPre":            []wireExec{{Path: "/bin/true"}, {Path: "/usr/bin/demo"}},
		"ExecReload":              []wireExec{},
		"MainPID":                 uint32(42),
	})
	got := DecodeProps("demo.service", unitProps, typeProps)
	want := Props{
		Unit: "demo.service", Found: true, Source: SourceDBus,
		Filter:         []string{"mount:EPERM", "umount2"},
		Log:            []string{"read"},
		LogAllowList:   true,
		ErrorNumber:    1,
		HasErrorNumber: true,
		Architectures:  []string{"native", "x86-64"},
		ExecPaths:      []string{"/bin/true", "/usr/bin/demo"},
		FragmentPath:   "/etc/systemd/system/demo.service",
		DropInPaths:    []string{"/etc/systemd/system/demo.service.d/50-seccompwatch.conf"},
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Props{}, "Sandbox")); d != "" {
		t.Errorf("DecodeProps (-want +got):\n%s", d)
	}
	if sb := got.Sandbox; !sb.Known || sb.ErrorNumber != "EPERM" || sb.Architectures.Value != "native x86-64" ||
		sb.Filter.AllowList || sb.Filter.Entries["mount"].Errno != "EPERM" || sb.Filter.Entries["umount2"].Source.Property != "SystemCallFilter" {
		t.Errorf("DecodeProps sandbox = %+v", sb)
	}

	// Kill, not found, mistyped values: zero values, no panic.
	got = DecodeProps("x.service", map[string]any{"LoadState": "not-found", "DropInPaths": 7},
		map[string]any{"SystemCallErrorNumber": ErrorNumberKill, "SystemCallFilter": "garbage", "ExecStart": []any{1}})
	if got.Found || got.HasErrorNumber || got.ErrorNumber != ErrorNumberKill || got.Filter != nil || got.ExecPaths != nil {
		t.Errorf("DecodeProps(garbage) = %+v", got)
	}
}

func TestEnvLogSeccomp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		want bool
	}{
		{nil, false},
		{[]string{"PATH=/bin", "SYSTEMD_LOG_SECCOMP=1"}, true},
		{[]string{"SYSTEMD_LOG_SECCOMP=yes"}, true},
		{[]string{"SYSTEMD_LOG_SECCOMP=0"}, false},
		{[]string{"SYSTEMD_LOG_SECCOMP=1", "SYSTEMD_LOG_SECCOMP=off"}, false},
		{[]string{"XSYSTEMD_LOG_SECCOMP=1"}, false},
	} {
		if got := EnvLogSeccomp(tc.env); got != tc.want {
			t.Errorf("EnvLogSeccomp(%q) = %v", tc.env, got)
		}
	}
}

func TestDBusNoBus(t *testing.T) {
	t.Parallel()
	d := NewDBus(DBusOptions{Address: "unix:path=/nonexistent/bus", MinBackoff: time.Hour})
	defer d.Close()
	ctx := context.Background()
	start := time.Now()
	p, err := d.Props(ctx, "demo.service")
	if !errors.Is(err, ErrNoDBus) || p.Found || p.Unit != "demo.service" || p.Source != SourceDBus {
		t.Fatalf("Props = %+v, %v; want ErrNoDBus", p, err)
	}
	// Backoff: the next call does not dial again and answers at once.
	_, err = d.Props(ctx, "demo.service")
	if !errors.Is(err, ErrNoDBus) {
		t.Fatalf("second Props err = %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("no-bus answers took %s", el)
	}
	if _, err := d.Props(ctx, "../x.service"); !errors.Is(err, unitname.ErrInvalid) {
		t.Errorf("invalid unit: err = %v", err)
	}
	d.Close()
	if _, err := d.Props(ctx, "demo.service"); !errors.Is(err, ErrNoDBus) {
		t.Errorf("after Close: err = %v", err)
	}
}

// TestDBusHungBus: a bus that accepts connections and never answers must
// not stall the caller beyond the call timeout.
func TestDBusHungBus(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "bus")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	d := NewDBus(DBusOptions{Address: "unix:path=" + sock, CallTimeout: 200 * time.Millisecond})
	defer d.Close()
	start := time.Now()
	_, err = d.Props(context.Background(), "demo.service")
	if !errors.Is(err, ErrNoDBus) || !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrNoDBus and ErrTimeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("hung bus stalled the caller for %s", el)
	}
}
