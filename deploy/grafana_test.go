package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dashboardFile is the shipped Grafana dashboard.
const dashboardFile = "grafana/seccompwatch.json"

// dashboard is the part of Grafana's dashboard model that an import needs
// and this test checks. Grafana itself cannot be installed here: the file
// is checked structurally, and every query is run against a real
// Prometheus (TestPrometheus).
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Time struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Instant    bool           `json:"instant"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	Definition string          `json:"definition"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// queryString is a query variable's query: a string, or Grafana's newer
// object form with the string in "query".
func (v variable) queryString() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", err
	}
	return o.Query, nil
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panelTypes are the panel types the dashboard may use: Grafana's built-in
// ones, so that an import needs no plugin.
var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true, "bargauge": true, "text": true}

// builtinVars are Grafana's own variables the queries may use.
var builtinVars = map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}

var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)`)

// TestDashboardStructure checks what an import of the dashboard JSON needs:
// title, uid, schema version, a data source variable every panel uses,
// panels with unique ids inside the 24-column grid and not overlapping,
// built-in panel types, queries with ref ids, and only defined variables.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" || len(d.UID) > 40 || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("title %q, uid %q, schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	if d.Time.From == "" || d.Time.To == "" {
		t.Error("no default time range")
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		if v.Name == "" || vars[v.Name].Name != "" {
			t.Errorf("variable name %q empty or repeated", v.Name)
		}
		vars[v.Name] = v
		switch v.Type {
		case "datasource":
			if q, _ := v.queryString(); q != "prometheus" {
				t.Errorf("data source variable %s: query %q, want prometheus", v.Name, q)
			}
		case "query":
			q, err := v.queryString()
			if err != nil || q == "" {
				t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
			}
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable %s: datasource %+v, want ${datasource}", v.Name, v.Datasource)
			}
			if v.IncludeAll && v.AllValue == "" {
				t.Errorf("variable %s: All without allValue would expand to every value", v.Name)
			}
		default:
			t.Errorf("variable %s: type %q", v.Name, v.Type)
		}
	}
	if vars["datasource"].Type != "datasource" {
		t.Fatal("no data source variable named datasource")
	}
	checkRefs := func(where, s string) {
		for _, m := range varRef.FindAllStringSubmatch(s, -1) {
			name := m[1] + m[2]
			if !builtinVars[name] && vars[name].Name == "" {
				t.Errorf("%s: undefined variable $%s", where, name)
			}
		}
	}
	for _, v := range vars {
		q, _ := v.queryString()
		checkRefs("variable "+v.Name, q)
	}

	ids := map[int]bool{}
	type rect struct{ x, y, w, h int }
	var placed []rect
	var titles []string
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id missing or repeated", where)
		}
		ids[p.ID] = true
		if !panelTypes[p.Type] || p.Title == "" {
			t.Errorf("%s: type %q", where, p.Type)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		r := rect{g.X, g.Y, g.W, g.H}
		for i, o := range placed {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("%s overlaps %s", where, titles[i])
			}
		}
		placed, titles = append(placed, r), append(titles, where)
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("%s: no description", where)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want the ${datasource} variable", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] || strings.TrimSpace(q.Expr) == "" {
				t.Errorf("%s: query %q with refId %q empty or repeated", where, q.Expr, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != nil && q.Datasource.UID != "${datasource}" {
				t.Errorf("%s: query datasource %+v", where, q.Datasource)
			}
			checkRefs(where, q.Expr)
		}
	}
}

// substitute expands the dashboard's variables as Grafana would for the
// test's selection: this job, this daemon, the test's unit, every machine.
func (env *liveEnv) substitute(t *testing.T, s string) string {
	t.Helper()
	vals := map[string]string{
		"job":             "seccompwatch",
		"instance":        promRegex(env.daemon.addr),
		"machine":         ".*", // the allValue: no container here
		"unit":            promRegex(env.fresh),
		"datasource":      "prometheus",
		"__rate_interval": "1m",
		"__range":         "1h",
		"__interval":      "15s",
	}
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		v, ok := vals[sub[1]+sub[2]]
		if !ok {
			t.Errorf("no test value for %s in %q", m, s)
		}
		return v
	})
	if strings.Contains(out, "$") {
		t.Errorf("unsubstituted variable in %q", out)
	}
	return out
}

// promRegex escapes a value as Grafana does for a Prometheus regex
// matcher: regex metacharacters escaped, and each backslash doubled inside
// the PromQL string.
func promRegex(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
}

var labelValues = regexp.MustCompile(`^label_values\((?:(.*),\s*)?([A-Za-z_][A-Za-z0-9_]*)\)$`)

// testDashboard runs the dashboard's variable queries and every panel query
// against the live Prometheus: each must parse and return data for the
// test's denials (a range query over the last two minutes, as a time series
// panel asks, or an instant query where the target is instant).
func (env *liveEnv) testDashboard(t *testing.T) {
	d := loadDashboard(t)
	want := map[string]string{"job": "seccompwatch", "instance": env.daemon.addr, "unit": env.fresh}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.queryString()
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(...)", v.Name, q)
			continue
		}
		u := env.prom.url + "/api/v1/label/" + m[2] + "/values"
		if m[1] != "" {
			u += "?match[]=" + url.QueryEscape(env.substitute(t, m[1]))
		}
		_, body, err := httpGet(u)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string   `json:"status"`
			Data   []string `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
			t.Errorf("variable %s: %v %s", v.Name, err, body)
			continue
		}
		if w, ok := want[v.Name]; ok && !contains(r.Data, w) {
			t.Errorf("variable %s: values %q lack %q", v.Name, r.Data, w)
		}
	}

	for _, p := range d.Panels {
		for _, q := range p.Targets {
			expr := env.substitute(t, q.Expr)
			where := fmt.Sprintf("panel %q query %s: %s", p.Title, q.RefID, expr)
			var series []map[string]string
			var err error
			if q.Instant {
				var res []sample
				res, err = env.prom.tryQuery(expr)
				for _, s := range res {
					series = append(series, s.Metric)
				}
			} else {
				series, err = env.prom.rangeQuery(expr, time.Now().Add(-2*time.Minute), time.Now(), 5*time.Second)
			}
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if len(series) == 0 {
				t.Errorf("%s: no data", where)
				continue
			}
			// Queries of the unit variable return the test's unit only.
			if strings.Contains(q.Expr, "$unit") {
				for _, s := range series {
					if u, ok := s["unit"]; ok && u != env.fresh {
						t.Errorf("%s: series of unit %q", where, u)
					}
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// rangeQuery runs a range query and returns the label sets of its series.
func (p *prometheus) rangeQuery(q string, start, end time.Time, step time.Duration) ([]map[string]string, error) {
	v := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	_, body, err := p.get(p.url + "/api/v1/query_range?" + v.Encode())
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("%v: %s", err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	out := make([]map[string]string, len(r.Data.Result))
	for i, s := range r.Data.Result {
		out[i] = s.Metric
	}
	return out, nil
}
