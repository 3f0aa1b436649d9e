// Package fleet finds seccompwatch daemons through Prometheus and reads
// their suggestions, for `seccompwatch suggest --prometheus`.
//
// Prometheus is the inventory, not the source: it knows which daemons
// there are (the targets of a selector), whether they are up, and where
// it scrapes them; the suggestions come from each daemon's own API,
// computed there against the unit configuration it reads (filters,
// verdicts, exes: nothing Prometheus holds). suggest.Merge then builds
// one drop-in per unit. A daemon that is down or cannot be read is
// reported, never silently left out.
package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/seccompwatch/seccompwatch/suggest"
)

// Target is one daemon Prometheus scrapes.
type Target struct {
	// Instance and Job are its Prometheus labels.
	Instance, Job string
	// URL is where Prometheus scrapes it, without the /metrics path: the
	// daemon's API is there too. "" when Prometheus lists no active
	// target with these labels (then Err says so).
	URL string
	// Up is the last scrape's result (up == 1).
	Up bool
}

// ValidSelector reports whether sel is a PromQL label selector in braces,
// e.g. {job="seccompwatch",role="web"} (Prometheus checks the rest).
func ValidSelector(sel string) bool {
	if len(sel) < 2 || sel[0] != '{' || sel[len(sel)-1] != '}' || strings.ContainsAny(sel, "\n\r") {
		return false
	}
	// One brace list: no brace outside a quoted value but the first and
	// the last ("{a=\"b\"} or {c=\"d\"}" would be a second selector).
	quote, esc := byte(0), false
	for i := 1; i < len(sel)-1; i++ {
		c := sel[i]
		switch {
		case esc:
			esc = false
		case quote != 0 && c == '\\':
			esc = true
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '{' || c == '}':
			return false
		}
	}
	return quote == 0
}

// Discover returns the targets whose up series matches selector, sorted
// by instance, with their scrape URLs from /api/v1/targets.
func Discover(ctx context.Context, c *http.Client, prom, selector string) ([]Target, error) {
	var q struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := get(ctx, c, prom, "/api/v1/query", url.Values{"query": {"up" + selector}}, &q); err != nil {
		return nil, err
	}
	var ts struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			ScrapeURL string            `json:"scrapeUrl"`
		} `json:"activeTargets"`
	}
	if err := get(ctx, c, prom, "/api/v1/targets", url.Values{"state": {"active"}}, &ts); err != nil {
		return nil, err
	}
	scrape := map[[2]string]string{}
	for _, t := range ts.ActiveTargets {
		scrape[[2]string{t.Labels["job"], t.Labels["instance"]}] = t.ScrapeURL
	}
	out := make([]Target, 0, len(q.Result))
	for _, r := range q.Result {
		t := Target{Instance: r.Metric["instance"], Job: r.Metric["job"], Up: fmt.Sprint(r.Value[1]) == "1"}
		if u := scrape[[2]string{t.Job, t.Instance}]; u != "" {
			if p, err := url.Parse(u); err == nil {
				p.Path = strings.TrimSuffix(p.Path, "/metrics")
				p.RawQuery = ""
				t.URL = p.String()
			}
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].Job < out[j].Job
	})
	return out, nil
}

// get reads a Prometheus API response's data into v.
func get(ctx context.Context, c *http.Client, prom, path string, q url.Values, v any) error {
	u, err := url.Parse(prom)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--prometheus: %q is not a URL such as http://prometheus:9090", prom)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach Prometheus at %s: %v", prom, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading Prometheus at %s: %v", prom, err)
	}
	var doc struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("the Prometheus at %s answered %s: give the credentials its web config asks for in --prometheus.http-config-file", prom, resp.Status)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("the server at %s answered %s, not Prometheus' API JSON", prom, resp.Status)
	}
	if doc.Status != "success" {
		return fmt.Errorf("the Prometheus at %s refused %s: %s", prom, path, suggest.Sanitize(doc.Error, 512))
	}
	return json.Unmarshal(doc.Data, v)
}

// Suggestions reads a daemon's suggestions (/api/v1/suggestions with q,
// format json) at base.
func Suggestions(ctx context.Context, c *http.Client, base string, q url.Values) ([]suggest.Suggestion, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/suggestions"
	q.Set("format", "json")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", u.Redacted(), resp.Status)
	}
	return suggest.ParseJSON(resp.Body)
}
