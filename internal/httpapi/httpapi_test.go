package httpapi

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// backend is a Backend over fixed data: the handler's own logic (routing,
// bounds, formats, escaping) is what these tests exercise; the daemon's
// tests drive the real backend with real denials.
type backend struct {
	healthy bool
	events  []event.Event
	sugg    []suggest.Suggestion
	recs    []suggest.UnitAggregate
	lastQ   Query
}

func (b *backend) Denials(unit string, limit int) []event.Event {
	var out []event.Event
	for _, e := range b.events {
		if unit == "" || e.Unit == unit {
			out = append(out, e)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

func (b *backend) Suggestions(_ context.Context, q Query) []suggest.Suggestion {
	b.lastQ = q
	return b.sugg
}

func (b *backend) Suggestion(_ context.Context, unit string, q Query) (suggest.Suggestion, map[string]string, bool) {
	b.lastQ = q
	for _, s := range b.sugg {
		if s.Unit == unit {
			return s, nil, true
		}
	}
	return suggest.Suggestion{}, nil, false
}

func (b *backend) Records(unit string, q Query) (suggest.UnitAggregate, bool) {
	b.lastQ = q
	for _, u := range b.recs {
		if u.Unit == unit {
			return u, true
		}
	}
	return suggest.UnitAggregate{}, false
}

func (b *backend) Health() Health {
	return Health{Healthy: b.healthy, Checks: map[string]Check{"audit": {OK: b.healthy, Status: "x"}}}
}

const hostile = "evil<script>alert(1)</script>\n[Service]\nExecStart=/bin/sh.service"

func fixture() *backend {
	t := syscalls.NewTable("252", "test table", map[string][]string{"@system-service": {"socket"}})
	agg := suggest.NewAggregator(suggest.Limits{})
	agg.Add(suggest.Denial{Unit: "nginx.service", Arch: syscalls.ArchX86_64, Nr: 41, Syscall: "socket", Action: "kill_process", Exe: "/usr/sbin/nginx", Time: time.Unix(1700000000, 0), Native: true})
	agg.Add(suggest.Denial{Unit: "unattributed:" + hostile, Arch: syscalls.ArchX86_64, Nr: 41, Syscall: "socket", Action: "errno", Exe: hostile, Time: time.Unix(1700000000, 0), Native: true})
	var ss []suggest.Suggestion
	recs := agg.Snapshot()
	for _, u := range recs {
		ss = append(ss, suggest.Compute(u, nil, suggest.Options{Table: t}))
	}
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, event.Event{Record: auditstream.Record{PID: i, Comm: hostile}, Unit: "nginx.service", SyscallName: "socket"})
	}
	return &backend{healthy: true, events: evs, sugg: ss, recs: recs}
}

func serve(t *testing.T, b Backend) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(b, Options{Gatherer: prometheus.NewRegistry(), Version: "test"}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestEndpoints(t *testing.T) {
	b := fixture()
	srv := serve(t, b)
	for _, tc := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/healthz", 200, `"healthy": true`},
		{"/metrics", 200, ""},
		{"/api/v1/denials", 200, `"denials"`},
		{"/api/v1/denials?limit=0", 400, "positive"},
		{"/api/v1/denials?limit=x", 400, "positive"},
		{"/api/v1/denials?limit=99999999999999999999", 200, `"denials"`}, // positive, beyond int: capped like any limit
		{"/api/v1/denials?limit=-99999999999999999999", 400, "positive"},
		{"/api/v1/suggestions", 200, `"suggestions"`},
		{"/api/v1/suggestions?format=dropin", 200, "SystemCallFilter=socket"},
		{"/api/v1/suggestions?format=yaml", 400, "format"},
		{"/api/v1/suggestions?allow_risky=maybe", 400, "allow_risky"},
		{"/api/v1/suggestions/nginx.service", 200, `"unit": "nginx.service"`},
		{"/api/v1/suggestions/nginx.service?format=dropin", 200, "\n# SystemCallFilter=socket\n"}, // configuration unknown: never active
		{"/api/v1/suggestions/nginx.service?format=diff", 200, "+++ "},
		{"/api/v1/suggestions/other.service", 404, "no denials"},
		{"/api/v1/suggestions/nginx.service?format=records", 200, `"syscall": "socket"`}, // the records alone, no verdict
		{"/api/v1/suggestions/other.service?format=records", 404, "no denials"},
		{"/api/v1/suggestions/nginx.service?machine=../../x", 400, "machine"},
		{"/api/v1/suggestions/nginx.service?machine=-x", 400, "machine"},
		{"/", 200, "nginx.service"},
		{"/nope", 404, ""},
	} {
		code, body, _ := get(t, srv.URL+tc.path)
		if code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, code, body, tc.code, tc.contains)
		}
	}
	get(t, srv.URL+"/api/v1/suggestions?allow_risky=1&granularity=group")
	if !b.lastQ.AllowRisky || b.lastQ.Granularity != suggest.GranularityGroup {
		t.Errorf("query options not passed on: %+v", b.lastQ)
	}
	for _, m := range []string{"web-1", HostMachine} {
		get(t, srv.URL+"/api/v1/suggestions/nginx.service?machine="+m)
		if b.lastQ.Machine != m {
			t.Errorf("machine=%s passed on as %q", m, b.lastQ.Machine)
		}
	}
}

func TestUnhealthy(t *testing.T) {
	b := fixture()
	b.healthy = false
	code, _, _ := get(t, serve(t, b).URL+"/healthz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("healthz = %d, want 503", code)
	}
}

func TestDenialsBounded(t *testing.T) {
	b := fixture()
	_, body, _ := get(t, serve(t, b).URL+"/api/v1/denials?limit=2")
	var doc struct{ Denials []map[string]any }
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Denials) != 2 || doc.Denials[1]["pid"] != 4.0 || doc.Denials[1]["comm"] != hostile {
		t.Fatalf("denials = %v", doc.Denials)
	}
}

// TestHostileValuesEscaped checks that a process-controlled exe reaches no
// page unescaped: not the HTML index, not the drop-in text.
func TestHostileValuesEscaped(t *testing.T) {
	srv := serve(t, fixture())
	_, html, h := get(t, srv.URL+"/")
	if strings.Contains(html, "<script>alert") || strings.Count(html, "<script") != 1 || !strings.Contains(html, "evil&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("HTML index contains raw markup, or not the hostile value escaped:\n%s", html)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'sha256-") || strings.Contains(h.Get("Content-Security-Policy"), "script-src 'unsafe") ||
		h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers missing: %v", h)
	}
	_, dropins, _ := get(t, srv.URL+"/api/v1/suggestions?format=dropin")
	for _, l := range strings.Split(dropins, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || l == "[Service]" || strings.HasPrefix(l, "SystemCallFilter=") {
			continue
		}
		t.Errorf("unexpected drop-in line (injection?): %q", l)
	}
}

// TestIndexLinksResolve follows every drop-in link of the HTML index: each
// must reach the suggestion of the row it is in, also for a pseudo-unit
// whose exe holds '/', '?', '#', '%' or spaces.
func TestIndexLinksResolve(t *testing.T) {
	b := fixture()
	tbl := syscalls.NewTable("252", "test table", map[string][]string{"@system-service": {"socket"}})
	for _, exe := range []string{"/usr/bin/foo", "/tmp/a?format=json#x", "/tmp/100%25 sure", "/tmp/a/../b"} {
		agg := suggest.NewAggregator(suggest.Limits{})
		agg.Add(suggest.Denial{Unit: "unattributed:" + exe, Arch: syscalls.ArchX86_64, Nr: 41, Syscall: "socket", Action: "errno", Exe: exe, Time: time.Unix(1700000000, 0), Native: true})
		b.sugg = append(b.sugg, suggest.Compute(agg.Snapshot()[0], nil, suggest.Options{Table: tbl}))
	}
	srv := serve(t, b)
	_, page, _ := get(t, srv.URL+"/")
	n := 0
	for _, m := range regexp.MustCompile(`<a href="(/api/v1/suggestions/[^"]*format=dropin[^"]*)">`).FindAllStringSubmatch(page, -1) {
		href := html.UnescapeString(m[1])
		u, err := url.Parse(href)
		if err != nil {
			t.Errorf("link %q: %v", href, err)
			continue
		}
		unit, err := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), "/api/v1/suggestions/"))
		if err != nil {
			t.Errorf("link %q: %v", href, err)
			continue
		}
		n++
		if code, body, _ := get(t, srv.URL+href); code != 200 || u.Query().Get("format") != "dropin" {
			t.Errorf("GET %s (unit %q) = %d %q", href, unit, code, body)
		}
		u.RawQuery = "format=json"
		code, body, _ := get(t, srv.URL+u.String())
		var doc struct{ Suggestions []struct{ Unit string } }
		if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || len(doc.Suggestions) != 1 || doc.Suggestions[0].Unit != suggest.Sanitize(unit, 0) {
			t.Errorf("GET %s (unit %q) = %d %q", u, unit, code, body)
		}
	}
	if n != len(b.sugg) {
		t.Errorf("%d drop-in links for %d suggestions:\n%s", n, len(b.sugg), page)
	}
}

// TestLoglevelChangeNeedsFlag: any local user reaches the listener, so PUT
// /debug/loglevel (which could set fatal and hide every warning) is refused
// unless the daemon was started with LevelChange; GET always works.
func TestLoglevelChangeNeedsFlag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change bool
		code   int
		after  zapcore.Level
	}{
		{"default refuses", false, http.StatusForbidden, zap.InfoLevel},
		{"flag allows", true, http.StatusOK, zap.FatalLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lvl := zap.NewAtomicLevelAt(zap.InfoLevel)
			srv := httptest.NewServer(New(fixture(), Options{Level: &lvl, LevelChange: tc.change}))
			defer srv.Close()
			code, body, _ := get(t, srv.URL+"/debug/loglevel")
			if code != http.StatusOK || !strings.Contains(body, `"level":"info"`) {
				t.Fatalf("GET: %d %s", code, body)
			}
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/debug/loglevel", strings.NewReader(`{"level":"fatal"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("PUT: %d %s, want %d", resp.StatusCode, b, tc.code)
			}
			if !tc.change && !strings.Contains(string(b), "--web.enable-loglevel-change") {
				t.Errorf("refusal does not name the flag: %s", b)
			}
			if got := lvl.Level(); got != tc.after {
				t.Errorf("level after PUT = %v, want %v", got, tc.after)
			}
		})
	}
}

// The page shows the apply command for a host unit whose drop-in has an
// active line (shell-quoted when the name holds a backslash), with
// --machine for a machine's unit, and why not for the rest.
func TestPageApplyCommand(t *testing.T) {
	tbl := syscalls.NewTable("252", "test table", map[string][]string{"@system-service": {"socket"}})
	pol := &suggest.Policy{Known: true, AllowList: true, Names: []string{"read"}}
	b := &backend{healthy: true}
	for _, d := range []struct{ unit, machine string }{{`web\x2d1.service`, ""}, {"db.service", "box"}} {
		agg := suggest.NewAggregator(suggest.Limits{})
		agg.Add(suggest.Denial{Unit: d.unit, Machine: d.machine, Arch: syscalls.ArchX86_64, Nr: 41, Syscall: "socket", Action: "kill_process", Exe: "/usr/bin/x", Time: time.Unix(1700000000, 0), Native: true})
		b.sugg = append(b.sugg, suggest.Compute(agg.Snapshot()[0], pol, suggest.Options{Table: tbl}))
	}
	srv := serve(t, b)
	_, page, _ := get(t, srv.URL+"/")
	for _, want := range []string{
		`<pre class="apply">seccompwatch apply &#39;web\x2d1.service&#39;</pre>`,
		`<pre class="apply">seccompwatch apply --machine box db.service</pre>`,
		`<pre class="diff">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}
