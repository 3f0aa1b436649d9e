package daemon

import (
	"log/slog"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// exporter-toolkit's slog lines reach zap with their level, attributes and
// groups; lines below the logger's level are dropped.
func TestZapHandler(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := slog.New(zapHandler{log: zap.New(core)})
	l.Debug("dropped")
	l.With("address", "127.0.0.1:9872").Info("TLS is enabled.", "http2", false)
	l.WithGroup("tls").Error("handshake", "err", "bad certificate")
	l.Warn("careful")
	got := logs.AllUntimed()
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3: %+v", len(got), got)
	}
	if e := got[0]; e.Level != zapcore.InfoLevel || e.Message != "TLS is enabled." ||
		e.ContextMap()["address"] != "127.0.0.1:9872" || e.ContextMap()["http2"] != false {
		t.Errorf("info line: %+v %v", e.Entry, e.ContextMap())
	}
	if e := got[1]; e.Level != zapcore.ErrorLevel || e.LoggerName != "tls" || e.ContextMap()["err"] != "bad certificate" {
		t.Errorf("error line: %+v %v", e.Entry, e.ContextMap())
	}
	if got[2].Level != zapcore.WarnLevel {
		t.Errorf("warn line: %+v", got[2].Entry)
	}
}
