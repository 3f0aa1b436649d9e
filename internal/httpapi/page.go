package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seccompwatch/seccompwatch/suggest"
)

// MaxPageUnits caps the units the HTML page shows in full (the API has
// them all).
const MaxPageUnits = 100

// copyScript is the page's only script: it shows the copy buttons (hidden
// without JavaScript) and copies a drop-in's text. The Content-Security-
// Policy allows exactly this script, by its hash.
const copyScript = `for (const b of document.querySelectorAll("button[data-copy]")) {
  b.hidden = false;
  b.addEventListener("click", () => {
    const text = document.getElementById(b.dataset.copy).textContent;
    navigator.clipboard.writeText(text).then(() => { b.textContent = "Copied"; }, () => { b.textContent = "Copy failed: select the text"; });
  });
}`

var copyScriptCSP = func() string {
	sum := sha256.Sum256([]byte(copyScript))
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// checkLabels names the health checks for people.
var checkLabels = map[string]string{
	"audit":       "Audit stream",
	"attribution": "Attribution (which unit)",
	"dbus":        "systemd over D-Bus",
	"state":       "State file",
	"events":      "Event stream",
	"visibility":  "Denials the kernel can log",
}

// checkOrder puts the checks in the order a person reads them.
var checkOrder = []string{"audit", "visibility", "attribution", "dbus", "state", "events"}

type pageCheck struct {
	Label, Status, Detail string
	OK                    bool
}

type pageRow struct {
	What, Verdict, VerdictDetail, Status, Reason string
	Count                                        uint64
	First, Last, Exes, Comms, Actions            string
	Active                                       bool
}

type pageUnit struct {
	ID, Unit, Machine, Node, Mode, Path string
	Total                               uint64
	First, Last                         string
	Warnings, Notes                     []string
	Rows                                []pageRow
	Dropin, Diff                        string
	Apply, ApplyWhy                     string
	Links                               string // path-escaped unit and machine query
}

type pageData struct {
	Version   string
	Healthy   bool
	Checks    []pageCheck
	Units     []pageUnit
	Truncated int
	Script    template.JS
}

func pageTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// shellQuote quotes a unit or machine name for a shell command line when
// it holds anything but the characters of a plain unit name.
func shellQuote(s string) string {
	plain := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("@._:-", c) >= 0) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func pageRows(s suggest.Suggestion) []pageRow {
	var rows []pageRow
	add := func(l suggest.Line, noChange bool) {
		r := pageRow{
			What: l.Directive(), Count: l.Count, First: pageTime(l.FirstSeen), Last: pageTime(l.LastSeen),
			Exes: strings.Join(l.Exes, "\n"), Comms: strings.Join(l.Comms, ", "), Reason: l.Reason,
			Verdict: "unknown", Active: l.Included && s.Applicable && !noChange,
		}
		if r.What == "" || noChange {
			r.What = strings.Join(l.Syscalls, " ")
			if l.Lifts != "" && !noChange {
				r.What += " (" + l.Lifts + "=)"
			}
		}
		if l.Verdict != nil {
			r.Verdict = string(l.Verdict.Kind)
			if d := l.Verdict.Directive(); d != "" {
				r.VerdictDetail = d
				if src := l.Verdict.Source(); src != "" {
					r.VerdictDetail += " at " + src
				}
			}
		}
		if l.ExesDropped > 0 {
			r.Exes += "\n(+" + strconv.FormatUint(l.ExesDropped, 10) + " denials of other binaries)"
		}
		var acts []string
		for a, n := range l.Actions {
			acts = append(acts, a+" "+strconv.FormatUint(n, 10))
		}
		sort.Strings(acts)
		r.Actions = strings.Join(acts, ", ")
		switch {
		case noChange:
			r.Status = "no change needed"
		case r.Active:
			r.Status = "proposed"
		default:
			r.Status = "held back"
		}
		rows = append(rows, r)
	}
	for _, l := range s.Lines {
		add(l, false)
	}
	for _, a := range s.ArchNotes {
		r := pageRow{What: a.Directive, Count: a.Count, First: pageTime(a.FirstSeen), Last: pageTime(a.LastSeen),
			Exes: strings.Join(a.Exes, "\n"), Reason: a.Reason, Verdict: "unknown", Active: a.Included && s.Applicable,
			Actions: strings.Join(a.Syscalls, " ") + " on " + a.Arch}
		if r.What == "" {
			r.What = "SystemCallArchitectures= (" + a.Arch + ")"
		}
		if a.Verdict != nil {
			r.Verdict = string(a.Verdict.Kind)
			r.VerdictDetail = a.Verdict.Directive()
		}
		r.Status = "held back"
		if r.Active {
			r.Status = "proposed"
		}
		rows = append(rows, r)
	}
	for _, l := range s.NoChange {
		add(l, true)
	}
	return rows
}

func (h *indexHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	health := h.b.Health()
	d := pageData{Version: h.version, Healthy: health.Healthy, Script: template.JS(copyScript)}
	seen := map[string]bool{}
	for _, name := range append(append([]string(nil), checkOrder...), sortedKeys(health.Checks)...) {
		c, ok := health.Checks[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		label := checkLabels[name]
		if label == "" {
			label = name
		}
		d.Checks = append(d.Checks, pageCheck{Label: label, Status: c.Status, Detail: c.Detail, OK: c.OK})
	}
	ss := h.b.Suggestions(ctx, Query{})
	if len(ss) > MaxPageUnits {
		d.Truncated = len(ss) - MaxPageUnits
		ss = ss[:MaxPageUnits]
	}
	for i, s := range ss {
		machine := s.Machine
		if machine == "" {
			machine = HostMachine
		}
		var current map[string]string
		if s2, cur, ok := h.b.Suggestion(ctx, s.Unit, Query{Machine: machine}); ok {
			s, current = s2, cur
		}
		u := pageUnit{
			ID: "u" + strconv.Itoa(i), Unit: s.Unit, Machine: s.Machine, Node: s.Node, Mode: s.Mode, Path: s.Path,
			Total: s.Total, First: pageTime(s.FirstSeen), Last: pageTime(s.LastSeen),
			Warnings: s.Warnings, Notes: s.Notes, Rows: pageRows(s),
			Links: url.PathEscape(s.Unit) + "?machine=" + url.QueryEscape(machine),
		}
		var buf bytes.Buffer
		_ = suggest.RenderDropin(&buf, s)
		u.Dropin = buf.String()
		switch {
		case !s.Applicable || s.Path == "":
			u.ApplyWhy = "Nothing to apply: this is not a unit a drop-in can be written for (see the drop-in's comments)."
		case !s.Included():
			u.ApplyWhy = "Nothing to apply yet: every line is held back or needs no change (see why in the table)."
		default:
			buf.Reset()
			_ = suggest.RenderDiff(&buf, s, current)
			u.Diff = buf.String()
			if s.Machine != "" {
				// apply finds the container's root and bus through its
				// leader, writes below that root and reloads its systemd.
				u.Apply = "seccompwatch apply --machine " + shellQuote(s.Machine) + " " + shellQuote(s.Unit)
				break
			}
			u.Apply = "seccompwatch apply " + shellQuote(s.Unit)
		}
		d.Units = append(d.Units, u)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", copyScriptCSP)
	_ = pageTmpl().Execute(w, d)
}

// indexHandler serves the HTML page at /.
type indexHandler struct {
	b       Backend
	version string
}

func sortedKeys(m map[string]Check) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pageTmpl returns the page, parsed at its first use (not at the start
// of every command). html/template escapes every value by context;
// links carry the path-escaped unit (html/template only normalizes a URL's
// path, leaving '?', '#', '/' and '%' of an exe in a pseudo-unit to change
// where the link goes).
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seccompwatch</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:80em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .6em;text-align:left;vertical-align:top;border-bottom:1px solid #ddd}
th{background:#f3f3f3}pre{background:#f6f6f6;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:.85em}
code{background:#eee;padding:0 .2em}.bad{color:#a00}.ok{color:#060}.unit{border:1px solid #ccc;border-radius:6px;padding:0 1em 1em;margin:1.5em 0}
.status-proposed{color:#060;font-weight:bold}.status-held{color:#a60}.warn{background:#fff4e0;border-left:4px solid #e90;padding:.3em .6em;margin:.3em 0}
.exe{white-space:pre-wrap;font-family:monospace;font-size:.9em}
</style>
</head><body>
<h1>seccompwatch {{.Version}}</h1>
<h2 id="health">Health: {{if .Healthy}}<span class="ok">ok</span>{{else}}<span class="bad">unhealthy</span>{{end}}</h2>
<table id="checks"><tr><th>check</th><th>status</th><th>what it means</th></tr>
{{range .Checks}}<tr class="{{if .OK}}ok-row{{else}}bad-row{{end}}"><td>{{.Label}}</td><td class="{{if .OK}}ok{{else}}bad{{end}}">{{.Status}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/api/v1/denials">/api/v1/denials</a> · <a href="/api/v1/suggestions">/api/v1/suggestions</a></p>
<h2>Units with denials</h2>
{{if not .Units}}<p id="no-units">No denials recorded yet.</p>{{end}}
{{if .Units}}<ul id="toc">{{range .Units}}<li><a href="#{{.ID}}">{{.Unit}}</a>{{if .Machine}} (machine {{.Machine}}){{end}}: {{.Total}} denials</li>{{end}}</ul>{{end}}
{{range .Units}}<section class="unit" id="{{.ID}}">
<h3 class="unit-name">{{.Unit}}</h3>
<p>{{if .Machine}}Machine: <b class="machine">{{.Machine}}</b> · {{end}}{{if .Node}}Node: <b>{{.Node}}</b> · {{end}}Filter mode now: {{.Mode}} · {{.Total}} denials, first {{.First}}, last {{.Last}}</p>
{{range .Warnings}}<p class="warn">{{.}}</p>{{end}}
<table class="denials"><tr><th>call or setting</th><th>verdict</th><th>count</th><th>first seen</th><th>last seen</th><th>binary (exe)</th><th>actions</th><th>proposal</th></tr>
{{range .Rows}}<tr class="denial"><td><code class="what">{{.What}}</code></td><td><span class="verdict">{{.Verdict}}</span>{{if .VerdictDetail}}<br><small class="verdict-detail">{{.VerdictDetail}}</small>{{end}}</td><td class="count">{{.Count}}</td><td>{{.First}}</td><td>{{.Last}}</td><td class="exe">{{.Exes}}</td><td>{{.Actions}}</td><td><span class="{{if .Active}}status-proposed{{else}}status-held{{end}}">{{.Status}}</span><br><small class="reason">{{.Reason}}</small></td></tr>
{{end}}</table>
{{range .Notes}}<p><small>{{.}}</small></p>{{end}}
<h4>Proposed drop-in{{if .Path}} for <code>{{.Path}}</code>{{end}} <button type="button" data-copy="{{.ID}}-dropin" hidden>Copy</button></h4>
<pre id="{{.ID}}-dropin" class="dropin">{{.Dropin}}</pre>
{{if .Diff}}<h4>Diff against the unit's current drop-ins</h4>
<pre class="diff">{{.Diff}}</pre>{{end}}
<h4>Apply</h4>
{{if .Apply}}<p>Review it, then on this host run (it shows the diff and asks before writing; roll back with <code>--revert</code>):</p>
<pre class="apply">{{.Apply}}</pre>{{else}}<p class="apply-why">{{.ApplyWhy}}</p>{{end}}
<p><small><a href="/api/v1/suggestions/{{.Links}}&amp;format=dropin">drop-in</a> · <a href="/api/v1/suggestions/{{.Links}}&amp;format=diff">diff</a> · <a href="/api/v1/suggestions/{{.Links}}&amp;format=why">why</a> · <a href="/api/v1/suggestions/{{.Links}}&amp;format=json">json</a></small></p>
</section>
{{end}}{{if .Truncated}}<p>{{.Truncated}} more units: see <a href="/api/v1/suggestions">/api/v1/suggestions</a>.</p>{{end}}
<script>{{.Script}}</script>
</body></html>
`))
})
