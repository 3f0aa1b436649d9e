package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// serve serves srv on ln: plain HTTP without --web.config.file, else
// through exporter-toolkit's web package as node_exporter does (TLS,
// client certificates, basic auth, re-read on every connection or request,
// so that renewed certificates need no restart).
func (d *Daemon) serve(srv *http.Server, ln net.Listener) error {
	if d.cfg.WebConfigFile == "" {
		return srv.Serve(ln)
	}
	noSocket := false
	flags := &web.FlagConfig{
		WebListenAddresses: &[]string{ln.Addr().String()},
		WebSystemdSocket:   &noSocket,
		WebConfigFile:      &d.cfg.WebConfigFile,
	}
	return web.Serve(ln, srv, flags, slog.New(zapHandler{log: d.log.Named("web")}))
}

// zapHandler is a slog.Handler that writes to a zap logger (exporter-toolkit
// logs through log/slog).
type zapHandler struct {
	log    *zap.Logger
	fields []zap.Field
}

// Enabled implements slog.Handler.
func (h zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(l))
}

// Handle implements slog.Handler.
func (h zapHandler) Handle(_ context.Context, r slog.Record) error {
	ce := h.log.Check(zapLevel(r.Level), r.Message)
	if ce == nil {
		return nil
	}
	fields := append([]zap.Field(nil), h.fields...)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, zap.Any(a.Key, a.Value.Resolve().Any()))
		return true
	})
	ce.Write(fields...)
	return nil
}

// WithAttrs implements slog.Handler.
func (h zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := append([]zap.Field(nil), h.fields...)
	for _, a := range attrs {
		fields = append(fields, zap.Any(a.Key, a.Value.Resolve().Any()))
	}
	return zapHandler{log: h.log, fields: fields}
}

// WithGroup implements slog.Handler; groups become a logger name.
func (h zapHandler) WithGroup(name string) slog.Handler {
	return zapHandler{log: h.log.Named(name), fields: h.fields}
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	default:
		return zapcore.DebugLevel
	}
}

// listenUnix creates the unix socket at path with mode 0600, owned by the
// daemon's user: root can connect (it bypasses the mode), other users
// cannot. The umask is tightened around bind, so the socket never exists
// with a wider mode. A stale socket (a daemon that died) is replaced; any
// other file at path is an error.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
