// Package httpapi serves the daemon's HTTP surface: /metrics, /healthz, the
// JSON API under /api/v1/, a small HTML index for humans, and
// /debug/loglevel. It reads everything through the Backend interface and
// holds no state of its own. Responses are bounded: list endpoints cap their
// length, and every value a process controls is escaped by the encoder that
// writes it (JSON, html/template, or the drop-in renderer).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// MaxDenials caps /api/v1/denials responses.
const MaxDenials = 10000

// Health is the daemon's health as /healthz reports it.
type Health struct {
	Healthy bool `json:"healthy"`
	// Checks holds one entry per component (audit stream, attribution,
	// D-Bus, state, events) and "visibility" (what on the host keeps
	// denials from being logged at all), each with a status and details.
	// Only the audit stream decides Healthy.
	Checks map[string]Check `json:"checks"`
}

// Check is one component's health.
type Check struct {
	OK     bool   `json:"ok"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Backend is what the API reads.
type Backend interface {
	// Denials returns the most recent denials, newest last, optionally
	// only a unit's, at most limit.
	Denials(unit string, limit int) []event.Event
	// Suggestions computes the suggestion for every unit with denials.
	Suggestions(ctx context.Context, q Query) []suggest.Suggestion
	// Suggestion computes one unit's suggestion and returns its current
	// drop-ins (path → content) for diffs; ok is false for a unit without
	// denials.
	Suggestion(ctx context.Context, unit string, q Query) (s suggest.Suggestion, current map[string]string, ok bool)
	// Records returns the aggregated records of one unit (as
	// Suggestion matches it), without any judgement: what a root client
	// that reads the unit's configuration itself (a user manager's unit)
	// computes its own suggestion from.
	Records(unit string, q Query) (suggest.UnitAggregate, bool)
	// Health reports the daemon's health.
	Health() Health
}

// Query holds the suggestion options a request may set:
// ?allow_risky=1 and ?granularity=syscall|group.
type Query struct {
	AllowRisky bool
	// Allow opts in to undoing deliberate settings (?allow=NAME,
	// repeatable: a syscall or a seccomp-backed directive).
	Allow       map[string]bool
	Granularity suggest.Granularity
	// Machine selects a container's unit for /api/v1/suggestions/{unit}:
	// a machine name, HostMachine for the host's, or "" for the host's
	// when it has one, else any machine's.
	Machine string
}

// HostMachine is the ?machine= value naming the host, as machinectl spells it.
const HostMachine = ".host"

func parseQuery(r *http.Request) (Query, bool) {
	var q Query
	switch r.URL.Query().Get("allow_risky") {
	case "", "0", "false":
	case "1", "true":
		q.AllowRisky = true
	default:
		return q, false
	}
	for _, n := range r.URL.Query()["allow"] {
		if !sandbox.IsDirective(n) && !syscalls.Known(n) {
			return q, false
		}
		if q.Allow == nil {
			q.Allow = map[string]bool{}
		}
		q.Allow[n] = true
	}
	switch r.URL.Query().Get("granularity") {
	case "", "syscall":
	case "group":
		q.Granularity = suggest.GranularityGroup
	default:
		return q, false
	}
	if m := r.URL.Query().Get("machine"); m != "" {
		if m != HostMachine && !event.ValidMachineName(m) {
			return q, false
		}
		q.Machine = m
	}
	return q, true
}

// Options configures the handler.
type Options struct {
	Gatherer prometheus.Gatherer
	// Level is served at /debug/loglevel when set: GET reads it; PUT
	// changes it only with LevelChange, since any local user can reach
	// the listener and a level of fatal would hide the daemon's warnings
	// (lost records, a dead audit stream).
	Level       *zap.AtomicLevel
	LevelChange bool
	Logger      *zap.Logger
	Version     string
}

// New returns the daemon's HTTP handler.
func New(b Backend, opts Options) http.Handler {
	mux := http.NewServeMux()
	if opts.Gatherer != nil {
		var errLog promhttp.Logger
		if opts.Logger != nil {
			errLog = zap.NewStdLog(opts.Logger.Named("promhttp"))
		}
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
			ErrorLog:            errLog,
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
			Timeout:             10 * time.Second,
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := b.Health()
		code := http.StatusOK
		if !h.Healthy {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	mux.HandleFunc("GET /api/v1/denials", func(w http.ResponseWriter, r *http.Request) {
		limit := 1000
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
				n, err = MaxDenials, nil // a positive number beyond int: capped below anyway
			}
			if err != nil || n < 1 {
				writeError(w, http.StatusBadRequest, "limit must be a positive integer")
				return
			}
			limit = min(n, MaxDenials)
		}
		ds := b.Denials(r.URL.Query().Get("unit"), limit)
		if ds == nil {
			ds = []event.Event{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"denials": ds})
	})
	mux.HandleFunc("GET /api/v1/suggestions", func(w http.ResponseWriter, r *http.Request) {
		q, ok := parseQuery(r)
		if !ok {
			writeError(w, http.StatusBadRequest, "allow_risky must be 0 or 1, allow a syscall or directive name, granularity syscall or group, machine a machine name or .host")
			return
		}
		ss := b.Suggestions(r.Context(), q)
		switch r.URL.Query().Get("format") {
		case "", "json":
			w.Header().Set("Content-Type", "application/json")
			_ = suggest.RenderJSON(w, ss)
		case "dropin":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for _, s := range ss {
				_ = suggest.RenderDropin(w, s)
			}
		default:
			writeError(w, http.StatusBadRequest, "format must be json or dropin")
		}
	})
	// {unit...}: a pseudo-unit (unattributed:<exe>) holds '/'; the index
	// links path-escape it, a hand-typed URL may not.
	mux.HandleFunc("GET /api/v1/suggestions/{unit...}", func(w http.ResponseWriter, r *http.Request) {
		q, ok := parseQuery(r)
		if !ok {
			writeError(w, http.StatusBadRequest, "allow_risky must be 0 or 1, allow a syscall or directive name, granularity syscall or group, machine a machine name or .host")
			return
		}
		unit := r.PathValue("unit")
		if r.URL.Query().Get("format") == "records" {
			u, ok := b.Records(unit, q)
			if !ok {
				writeError(w, http.StatusNotFound, "no denials recorded for this unit")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"records": u})
			return
		}
		s, current, ok := b.Suggestion(r.Context(), unit, q)
		if !ok {
			writeError(w, http.StatusNotFound, "no denials recorded for this unit")
			return
		}
		switch r.URL.Query().Get("format") {
		case "", "json":
			w.Header().Set("Content-Type", "application/json")
			_ = suggest.RenderJSON(w, []suggest.Suggestion{s})
		case "dropin":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_ = suggest.RenderDropin(w, s)
		case "diff":
			w.Header().Set("Content-Type", "text/x-diff; charset=utf-8")
			_ = suggest.RenderDiff(w, s, current)
		case "why":
			sc := r.URL.Query().Get("syscall")
			if sc != "" && !syscalls.Known(sc) {
				writeError(w, http.StatusBadRequest, "syscall must be a syscall name")
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_ = suggest.RenderWhy(w, s, sc)
		default:
			writeError(w, http.StatusBadRequest, "format must be json, dropin, diff, why or records")
		}
	})
	if opts.Level != nil {
		mux.Handle("/debug/loglevel", loglevelHandler(opts.Level, opts.LevelChange))
	}
	mux.Handle("GET /{$}", &indexHandler{b: b, version: opts.Version})
	return securityHeaders(mux)
}

// loglevelHandler serves zap's level endpoint; with change false it
// answers only GET (and HEAD) and refuses every other method.
func loglevelHandler(lvl *zap.AtomicLevel, change bool) http.Handler {
	if change {
		return lvl
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusForbidden, "changing the log level over HTTP is disabled; start the daemon with --web.enable-loglevel-change to allow it")
			return
		}
		lvl.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
