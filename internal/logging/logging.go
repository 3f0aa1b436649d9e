// Package logging builds the daemon's zap logger: JSON to stderr for
// journald and SIEMs, or console format for humans, with a level that can be
// changed at run time (/debug/loglevel) and sampling so that per-record
// messages cannot flood the journal. Sampled-out lines are counted.
package logging

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Logger is a zap logger with its level and its sampling count.
type Logger struct {
	*zap.Logger
	Level   zap.AtomicLevel
	dropped *atomic.Uint64
}

// Dropped returns how many log lines sampling has dropped.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// New returns a logger writing to stderr. format is "json" or "console";
// level is a zap level name (debug, info, warn, error).
func New(format, level string) (*Logger, error) { return NewTo(os.Stderr, format, level) }

// NewTo is New writing to w.
func NewTo(w io.Writer, format, level string) (*Logger, error) {
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	var enc zapcore.Encoder
	switch format {
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339TimeEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, fmt.Errorf("--log.format: %q is not json or console", format)
	}
	dropped := new(atomic.Uint64)
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	// The same message more than 10 times a second is sampled 1 in 100.
	core = zapcore.NewSamplerWithOptions(core, time.Second, 10, 100,
		zapcore.SamplerHook(func(_ zapcore.Entry, dec zapcore.SamplingDecision) {
			if dec&zapcore.LogDropped != 0 {
				dropped.Add(1)
			}
		}))
	return &Logger{Logger: zap.New(core, zap.AddStacktrace(zapcore.DPanicLevel)), Level: lvl, dropped: dropped}, nil
}
