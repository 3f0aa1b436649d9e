package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/event"
	"github.com/seccompwatch/seccompwatch/internal/fleet"
	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/sandbox"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// DefaultListenAddress is the daemon's default --web.listen-address, and so
// the default --server of the commands that read a running daemon.
const DefaultListenAddress = "127.0.0.1:9872"

// serverEnv is the environment variable that --server defaults to.
const serverEnv = "SECCOMPWATCH_SERVER"

func registerSuggest(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("suggest", `Propose SystemCallFilter= drop-ins for the denied units.

With --replay, from audit logs; without, from a running daemon (--server).
Risky syscalls (in @privileged, @mount, @debug, ... and not in
@system-service) and calls from a binary that is not the unit's own are
written commented out, with the reason, unless --allow-risky. A change that
undoes a deliberate setting (a "~" removal from SystemCallFilter=, or a
directive such as MemoryDenyWriteExecute=yes) is commented out unless that
item is named with --allow (a syscall or a directive); neither opt-in
implies the other.

Examples:
  seccompwatch suggest --replay /var/log/audit/audit.log
  seccompwatch suggest --replay audit.log --unit nginx.service --format diff
  seccompwatch suggest --replay audit.log --out-dir ./dropins   # files to review and commit
  seccompwatch suggest nginx.service                          # from the daemon
  seccompwatch suggest --machine web demo.service             # a container's unit
  seccompwatch suggest user@1000.service/build.service        # a unit of user 1000's manager
  seccompwatch suggest --format json > suggestions.json`)
	replayFiles := c.Flag("replay", "Audit log to read (repeatable; - for stdin). Without it, ask the daemon.").Strings()
	unitFlag := c.Flag("unit", "With --replay: attribute every record to this unit.").String()
	format := c.Flag("format", "dropin, diff (against the unit's current drop-ins), or json.").Default("dropin").Enum("dropin", "diff", "json")
	outDir := c.Flag("out-dir", "Write each drop-in under DIR at its path (DIR/etc/systemd/system/UNIT.d/50-seccompwatch.conf) instead of printing it.").String()
	allowRisky := c.Flag("allow-risky", "Include risky and foreign-binary syscalls instead of commenting them out.").Bool()
	allow := allowFlag(c)
	granularity := c.Flag("granularity", "syscall (the denied calls only), or group (a whole group when several denied calls share one and it adds nothing risky).").Default("syscall").Enum("syscall", "group")
	root := c.Flag("root", "With --replay: root directory of the unit files (attribution by exe, current filters, drop-ins).").Default("/").String()
	table := tableFlag(c)
	server := serverFlag(c)
	machine := c.Flag("machine", "Without --replay, with a UNIT: the container (machine) whose unit to show, or .host; default the host's unit when there is one.").String()
	prom := c.Flag("prometheus", "Fleet-wide: find the daemons among Prometheus' targets (--selector), read each one's suggestions (the --server TLS and basic-auth options apply to them) and merge them into one drop-in per unit.").PlaceHolder("URL").String()
	promHTTP := c.Flag("prometheus.http-config-file", "With --prometheus: how to reach Prometheus, in Prometheus' own HTTP client format (promtool's --http.config.file: tls_config, basic_auth with password_file, authorization with credentials_file, oauth2, proxy_url; paths relative to the file), or the environment variable:").
		PlaceHolder("FILE").Envar(promHTTPConfigEnv).String()
	selector := c.Flag("selector", "With --prometheus: which targets, as a PromQL label selector.").Default(`{job="seccompwatch"}`).String()
	since := c.Flag("since", "With --prometheus: only what was last seen within this long (Prometheus durations: 90m, 7d, 2w).").PlaceHolder("DURATION").String()
	args := c.Arg("unit-or-files", "Without --replay: the unit to ask the daemon about (a user's unit as user@UID.service/NAME, as the metrics label it). With --replay: more audit logs.").Strings()
	cmds[c.FullCommand()] = func() error {
		gran := suggest.GranularitySyscall
		if *granularity == "group" {
			gran = suggest.GranularityGroup
		}
		if *prom != "" {
			switch {
			case len(*replayFiles) > 0:
				return usagef("--prometheus reads the daemons, --replay audit logs: give one of them")
			case *promHTTP != "" && *prom == "":
				return usagef("--prometheus.http-config-file goes with --prometheus")
			case *unitFlag != "" || *machine != "":
				return usagef("with --prometheus, name the unit as an argument; --unit and --machine do not apply")
			case *format == "diff":
				return usagef("--format diff compares with one host's drop-ins: with --prometheus use dropin, json or --out-dir")
			case len(*args) > 1:
				return usagef("give one unit, or none for all")
			case !fleet.ValidSelector(*selector):
				return usagef("--selector: %q is not a label selector such as {job=\"seccompwatch\",role=\"web\"}", plainName(*selector))
			}
			var window time.Duration
			if *since != "" {
				d, err := model.ParseDuration(*since)
				if err != nil || d <= 0 {
					return usagef("--since: %q is not a duration such as 7d or 12h", plainName(*since))
				}
				window = time.Duration(d)
			}
			unit := ""
			if len(*args) == 1 {
				unit = unitname.CompleteRef((*args)[0])
				if err := unitname.ValidateRef(unit, unitname.Any); err != nil {
					return usagef("%v", err)
				}
			}
			allowed, err := allowSet(*allow)
			if err != nil {
				return err
			}
			q := url.Values{"granularity": {*granularity}}
			for n := range allowed {
				q.Add("allow", n)
			}
			if *allowRisky {
				q.Set("allow_risky", "1")
			}
			promClient, err := prometheusClient(*promHTTP)
			if err != nil {
				return err
			}
			results, err := suggestFromFleet(e, *prom, promClient, *selector, server, q, unit, window)
			if err != nil {
				return err
			}
			return writeSuggestions(e, results, *format, *outDir)
		}
		if len(*replayFiles) == 0 {
			switch {
			case *unitFlag != "":
				return usagef("--unit works with --replay; to ask the daemon about a unit, name it: seccompwatch suggest UNIT")
			case *outDir != "":
				return usagef("--out-dir works with --replay")
			case *machine != "" && len(*args) != 1:
				return usagef("--machine needs a UNIT")
			case *machine != "" && *machine != httpapi.HostMachine && !event.ValidMachineName(*machine):
				return usagef("--machine: not a machine name: %q", *machine)
			}
			if len(*args) > 1 {
				return usagef("give one unit, or --replay FILE")
			}
			unit := ""
			if len(*args) == 1 {
				unit = (*args)[0]
			}
			allowed, err := allowSet(*allow)
			if err != nil {
				return err
			}
			return suggestFromServer(e, *server, unit, *machine, *format, *allowRisky, *granularity, allowed)
		}
		t, err := selectTable(*table)
		if err != nil {
			return err
		}
		allowed, err := allowSet(*allow)
		if err != nil {
			return err
		}
		files := append(append([]string{}, *replayFiles...), *args...)
		results, err := suggestFromReplay(e, files, *unitFlag, *root, t, suggest.Options{
			Table: t, AllowRisky: *allowRisky, Granularity: gran, Generator: buildinfo.Generator(), Allow: allowed,
		})
		if err != nil {
			return err
		}
		return writeSuggestions(e, results, *format, *outDir)
	}
}

func suggestFromReplay(e *env, files []string, unit, root string, t *syscalls.Table, opts suggest.Options) ([]pipeline.Result, error) {
	r, err := newReplay(e, files, unit, root, func() (*syscalls.Table, error) { return t, nil })
	if err != nil {
		return nil, err
	}
	defer r.close()
	// One aggregator per node (auditd's node= of a central log): the same
	// unit name on two hosts is two units, never merged.
	aggs := map[string]*suggest.Aggregator{}
	var nodes []string
	native := pipeline.NativeArch()
	if err := r.each(e, func(ev *event.Event) error {
		agg := aggs[ev.Node]
		if agg == nil {
			agg = suggest.NewAggregator(suggest.Limits{})
			aggs[ev.Node] = agg
			nodes = append(nodes, ev.Node)
		}
		agg.Add(pipeline.Denial(ev, native))
		return nil
	}); err != nil {
		return nil, err
	}
	if err := r.wait(); err != nil {
		return nil, err
	}
	r.summary(e)
	if err := r.recognized(); err != nil {
		return nil, err
	}
	sort.Strings(nodes)
	var out []pipeline.Result
	for _, node := range nodes {
		var props unitprops.Provider = r.files
		if !r.readsUnitsOf(node) {
			props = nil // another host's units: not this one's files
		}
		results := pipeline.Suggest(context.Background(), aggs[node].Snapshot(), props, opts)
		for i := range results {
			s := &results[i].Suggestion
			s.Node = node
			if props == nil && s.Applicable {
				s.Warnings = append(s.Warnings, "the records come from node "+node+", whose unit files were not read (--root is "+r.root+", this host's): its configuration is unknown, so nothing is active; give --root a copy of that host's / to judge them")
			}
		}
		out = append(out, results...)
	}
	return out, nil
}

// suggestFromFleet finds the daemons through Prometheus, reads each one's
// suggestions and merges them per unit (suggest.Merge). Targets that are
// down or cannot be read are named on stderr and in every suggestion's
// warnings.
// promHTTPConfigEnv is the environment variable that
// --prometheus.http-config-file defaults to.
const promHTTPConfigEnv = "SECCOMPWATCH_PROMETHEUS_HTTP_CONFIG_FILE"

// prometheusClient returns the client for Prometheus: plain, or as file
// (Prometheus' HTTP client configuration, as promtool and a scrape config
// take it) says; its files are read at each request.
func prometheusClient(file string) (*http.Client, error) {
	if file == "" {
		return &http.Client{Timeout: 15 * time.Second}, nil
	}
	cfg, _, err := config.LoadHTTPConfigFile(file)
	if err != nil {
		return nil, usagef("--prometheus.http-config-file: %v", err)
	}
	c, err := config.NewClientFromConfig(*cfg, "seccompwatch")
	if err != nil {
		return nil, usagef("--prometheus.http-config-file: %v", err)
	}
	c.Timeout = 15 * time.Second
	return c, nil
}

func suggestFromFleet(e *env, prom string, promClient *http.Client, selector string, server *daemonServer, q url.Values, unit string, since time.Duration) ([]pipeline.Result, error) {
	ctx := context.Background()
	targets, err := fleet.Discover(ctx, promClient, prom, selector)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("the Prometheus at %s has no target matching %s", plainName(prom), plainName(selector))
	}
	client, err := server.client()
	if err != nil {
		return nil, err
	}
	var from time.Time
	if since > 0 {
		from = time.Now().Add(-since)
	}
	var hosts []suggest.Host
	var missing []string
	for _, t := range targets {
		name := suggest.Sanitize(t.Instance, 256)
		var why string
		var ss []suggest.Suggestion
		switch {
		case !t.Up:
			why = "down in Prometheus: up is 0"
		case t.URL == "":
			why = "no active target of Prometheus has these labels"
		default:
			ss, err = fleet.Suggestions(ctx, client, t.URL, url.Values{"granularity": q["granularity"], "allow": q["allow"], "allow_risky": q["allow_risky"]})
			if err != nil {
				why = sanitizeLine(err.Error())
			}
		}
		if why != "" {
			fmt.Fprintf(e.stderr, "not read: %s (%s)\n", name, why)
			missing = append(missing, name+" ("+why+")")
			continue
		}
		var kept []suggest.Suggestion
		for _, s := range ss {
			if unit != "" && unitname.Ref(s.Unit, s.UserUnit, s.UID) != unit {
				continue
			}
			if s2, ok := suggest.Since(s, from); ok {
				kept = append(kept, s2)
			}
		}
		hosts = append(hosts, suggest.Host{Name: t.Instance, Suggestions: kept})
	}
	fmt.Fprintf(e.stderr, "fleet: %d of %d targets of %s read\n", len(hosts), len(targets), suggest.Sanitize(selector, 256))
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no daemon of %s could be read", plainName(selector))
	}
	merged := suggest.Merge(hosts)
	out := make([]pipeline.Result, len(merged))
	for i, s := range merged {
		s.Notes = append(s.Notes, fmt.Sprintf("fleet: %d %s read through %s %s", len(hosts), plural(len(hosts), "daemon", "daemons"), suggest.Sanitize(prom, 256), suggest.Sanitize(selector, 256)))
		if len(missing) > 0 {
			s.Warnings = append(s.Warnings, "fleet: not read, so their denials are missing: "+strings.Join(missing, "; "))
		}
		out[i] = pipeline.Result{Suggestion: s}
	}
	return out, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func writeSuggestions(e *env, results []pipeline.Result, format, outDir string) error {
	if len(results) == 0 {
		fmt.Fprintln(e.stderr, "no denials: nothing to suggest")
		return nil
	}
	if outDir != "" {
		return writeOutDir(e, results, outDir)
	}
	switch format {
	case "json":
		ss := make([]suggest.Suggestion, len(results))
		for i, r := range results {
			ss[i] = r.Suggestion
		}
		return suggest.RenderJSON(e.stdout, ss)
	case "diff":
		for _, r := range results {
			if why := notInstallable(r.Suggestion); why != "" {
				fmt.Fprintf(e.stderr, "no diff: %s (%s)\n", unitLabel(r.Suggestion), why)
				continue
			}
			if err := suggest.RenderDiff(e.stdout, r.Suggestion, r.Current); err != nil {
				return err
			}
		}
		return nil
	}
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := suggest.RenderDropin(e.stdout, r.Suggestion); err != nil {
			return err
		}
	}
	return nil
}

// unitLabel names a suggestion's unit for a message, with its node when
// a central log named one (the same unit on two hosts is two units).
func unitLabel(s suggest.Suggestion) string {
	if s.Node != "" {
		return suggest.Sanitize(s.Unit, 256) + " of node " + suggest.Sanitize(s.Node, 256)
	}
	return suggest.Sanitize(s.Unit, 256)
}

// notInstallable says why a suggestion is neither written by --out-dir nor
// shown by --format diff, or "" when it is installable: both list the same
// units.
func notInstallable(s suggest.Suggestion) string {
	switch {
	case !s.Applicable || s.Path == "":
		return "not an applicable unit; see the advisory with --format dropin"
	case !s.Included():
		return "nothing to install: held back, no change, or the configuration is unknown; see --format dropin"
	case s.Machine != "" && !event.ValidMachineName(s.Machine): // a directory name: never "..", "/" or bytes
		return "machine name " + suggest.Sanitize(s.Machine, 64) + " is not a valid machine name"
	case s.Node != "" && !auditstream.ValidNode(s.Node):
		return "node " + suggest.Sanitize(s.Node, 64) + " is not a host name"
	}
	return ""
}

// writeOutDir writes each applicable drop-in under dir at its path.
// Pseudo-units (unattributed denials) are never written: they are listed.
func writeOutDir(e *env, results []pipeline.Result, dir string) error {
	for _, r := range results {
		s := r.Suggestion
		if why := notInstallable(s); why != "" {
			fmt.Fprintf(e.stderr, "not written: %s (%s)\n", unitLabel(s), why)
			continue
		}
		var buf bytes.Buffer
		if err := suggest.RenderDropin(&buf, s); err != nil {
			return err
		}
		base := dir
		if s.Node != "" {
			base = filepath.Join(dir, "nodes", s.Node) // a validated host name (auditstream)
		}
		dst := filepath.Join(base, filepath.FromSlash(strings.TrimPrefix(s.Path, "/")))
		if s.Machine != "" {
			dst = filepath.Join(base, "machines", s.Machine, filepath.FromSlash(strings.TrimPrefix(s.Path, "/")))
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", dst)
	}
	return nil
}

// allowFlag is --allow NAME, repeatable.
func allowFlag(c *kingpin.CmdClause) *[]string {
	return c.Flag("allow", "Opt in to undoing one deliberate setting: a syscall (a ~ removal of it) or a directive (MemoryDenyWriteExecute, SystemCallArchitectures, ...). Repeatable.").PlaceHolder("NAME").Strings()
}

// allowSet validates --allow names: syscall names or seccomp-backed
// directives.
func allowSet(names []string) (map[string]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		if !sandbox.IsDirective(n) && !syscalls.Known(n) {
			return nil, usagef("--allow %s: neither a syscall nor a directive that denies through seccomp (%s, SystemCallFilter, SystemCallArchitectures)", plainName(n), strings.Join(sandbox.Directives, ", "))
		}
		m[n] = true
	}
	return m, nil
}

func suggestFromServer(e *env, server daemonServer, unit, machine, format string, allowRisky bool, granularity string, allowed map[string]bool) error {
	q := url.Values{"format": {format}, "granularity": {granularity}}
	for n := range allowed {
		q.Add("allow", n)
	}
	if machine != "" {
		q.Set("machine", machine)
	}
	if allowRisky {
		q.Set("allow_risky", "1")
	}
	path := "/api/v1/suggestions"
	if unit != "" {
		unit = unitname.CompleteRef(unit)
		if err := unitname.ValidateRef(unit, unitname.Any); err != nil {
			return usagef("%v", err)
		}
		path += "/" + url.PathEscape(unit)
	} else if format == "diff" {
		return usagef("--format diff needs a unit")
	}
	err := getTo(e.stdout, server, path, q)
	var de *daemonError
	if unit != "" && errors.As(err, &de) && de.status == http.StatusNotFound {
		where := ""
		if machine != "" {
			where = " in machine " + plainName(machine)
		}
		return fmt.Errorf("the daemon at %s has recorded no denials of %s%s", server.URL, plainName(unit), where)
	}
	return err
}

// getTo copies a daemon's response for path (escaped: a unit reference's
// '/' as %2F) to w; a non-2xx status is an error with the daemon's message.
func getTo(w io.Writer, server daemonServer, path string, q url.Values) error {
	u, err := url.Parse(server.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return usagef("--server: %q is not a URL such as http://%s", plainName(server.URL), DefaultListenAddress)
	}
	// path is escaped (a unit reference's '/' as %2F): kept as it is, not
	// escaped again.
	raw, err := url.PathUnescape(path)
	if err != nil {
		return err
	}
	u.RawPath = strings.TrimSuffix(u.EscapedPath(), "/") + path
	u.Path = strings.TrimSuffix(u.Path, "/") + raw
	u.RawQuery = q.Encode()
	client, err := server.client()
	if err != nil {
		return err
	}
	resp, err := client.Get(u.String())
	if err != nil {
		return unreachable(server.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var doc struct{ Error string }
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &doc) == nil && doc.Error != "" {
			msg = doc.Error
		}
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(msg, "HTTP request to an HTTPS server") {
			msg += " — it speaks TLS: use an https:// URL in --server"
		}
		return &daemonError{server: server.URL, status: resp.StatusCode, msg: sanitizeLine(msg)}
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
