package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/propose"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/suggest"
)

func registerLearnMerge(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("learn-merge", `Merge what learn saw on several hosts (files written by learn --format json)
into one proposal per unit, each line with every host's evidence.

No merged line denies anything a host saw: SystemCallFilter= allows the
union of the calls the hosts' lines allow; RestrictAddressFamilies= and
RestrictNamespaces= are the union of the families and namespace types seen;
every other directive (MemoryDenyWriteExecute=, LockPersonality=, ...) is
proposed only when every host proposed it. A directive the unit already has
on some hosts but not on others is not proposed (the hosts' configurations
differ). Hosts are named by the files' "host" key (learn writes the
hostname), else by the file name.

With --unit and --format json the output has learn --format json's shape
(unit, method, proposal; plus hosts), which apply --learned installs.

Examples:
  seccompwatch learn-merge web1.json web2.json web3.json
  seccompwatch learn-merge --unit nginx --format json web*.json > nginx.json && seccompwatch apply --learned nginx.json nginx
  seccompwatch learn-merge --unit nginx --format json learned/*.json`)
	files := c.Arg("file", "learn --format json files (- for standard input).").Required().Strings()
	unitFlag := c.Flag("unit", "The unit to merge (needed for a drop-in when the files hold several).").String()
	format := c.Flag("format", "Output: dropin or json.").Default("dropin").Enum("dropin", "json")
	cmds[c.FullCommand()] = func() error {
		byUnit := map[string][]propose.Learned{}
		for _, f := range *files {
			var data []byte
			var err error
			if f == stdinArg {
				data, err = io.ReadAll(io.LimitReader(e.stdin, maxLearned+1))
			} else {
				data, err = readLimited(f)
			}
			if err != nil {
				return err
			}
			unit, l, err := parseLearned(data, filepath.Base(f))
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			byUnit[unit] = append(byUnit[unit], l)
		}
		units := make([]string, 0, len(byUnit))
		for u := range byUnit {
			units = append(units, u)
		}
		sort.Strings(units)
		if *unitFlag != "" {
			u := unitname.Complete(*unitFlag)
			if _, ok := byUnit[u]; !ok {
				return fmt.Errorf("no file holds %s (units: %s)", plainName(u), strings.Join(units, ", "))
			}
			units = []string{u}
		}
		var merged []propose.Proposal
		var docs []mergedJSON
		for _, u := range units {
			hosts := byUnit[u]
			labelHosts(hosts)
			p := propose.Merge(u, hosts)
			merged = append(merged, p)
			doc := mergedJSON{Unit: u, Method: "learn-merge", Proposal: p}
			for _, h := range hosts {
				doc.Hosts = append(doc.Hosts, h.Host)
			}
			docs = append(docs, doc)
		}
		if *format == "json" {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if *unitFlag != "" {
				return enc.Encode(docs[0]) // as learn --format json: apply --learned installs it
			}
			return enc.Encode(struct {
				Units []mergedJSON `json:"units"`
			}{docs})
		}
		if len(merged) > 1 {
			return usagef("the files hold %d units (%s): pick one with --unit, or use --format json", len(merged), strings.Join(units, ", "))
		}
		return merged[0].Render(e.stdout, buildinfo.Generator()+" learn-merge")
	}
}

// mergedJSON is one unit's merged proposal in learn-merge --format json,
// in learn --format json's shape where they share keys (unit, method,
// proposal), so that apply --learned installs it.
type mergedJSON struct {
	Unit     string           `json:"unit"`
	Method   string           `json:"method"`
	Hosts    []string         `json:"hosts"`
	Proposal propose.Proposal `json:"proposal"`
}

// maxLearned bounds one learn --format json file.
const maxLearned = 8 << 20

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLearned+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// valueToken is what a learned directive's value may hold: syscall names,
// @groups, AF_* families, namespace types, yes/native/none.
var valueToken = regexp.MustCompile(`^@?[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)

// parseLearned reads one learn --format json document: the unit and its
// proposal, checked (the merged output is a drop-in someone may install):
// a valid unit name that the proposal repeats, only directives learn
// proposes, values made of names only; free text (evidence, notes, host)
// sanitized.
func parseLearned(data []byte, name string) (string, propose.Learned, error) {
	if len(data) > maxLearned {
		return "", propose.Learned{}, fmt.Errorf("larger than %d bytes", maxLearned)
	}
	var doc struct {
		Unit     *string           `json:"unit"`
		Host     string            `json:"host"`
		Proposal *propose.Proposal `json:"proposal"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return "", propose.Learned{}, fmt.Errorf("not a learn --format json document: %w", err)
	}
	if dec.More() {
		return "", propose.Learned{}, fmt.Errorf("more than one JSON document")
	}
	if doc.Unit == nil || doc.Proposal == nil {
		return "", propose.Learned{}, fmt.Errorf("not a learn --format json document: no unit or no proposal")
	}
	unit := *doc.Unit
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		return "", propose.Learned{}, err
	}
	p := *doc.Proposal
	if p.Unit != unit {
		return "", propose.Learned{}, fmt.Errorf("the proposal is for %q, the document for %s", suggest.Sanitize(p.Unit, 256), unit)
	}
	known := map[string]bool{}
	for _, d := range propose.Directives() {
		known[d] = true
	}
	for i := range p.Lines {
		l := &p.Lines[i]
		if !known[l.Directive] {
			return "", propose.Learned{}, fmt.Errorf("line %d: %q is not a directive learn proposes", i+1, suggest.Sanitize(l.Directive, 64))
		}
		for _, v := range strings.Fields(l.Value) {
			if !valueToken.MatchString(v) {
				return "", propose.Learned{}, fmt.Errorf("line %d: %s= value %q is not a name", i+1, l.Directive, suggest.Sanitize(v, 64))
			}
		}
		if len(l.Value) > 16<<10 {
			return "", propose.Learned{}, fmt.Errorf("line %d: %s= value longer than 16 KiB", i+1, l.Directive)
		}
		l.Value = strings.Join(strings.Fields(l.Value), " ")
		if len(l.Hosts) > 0 {
			return "", propose.Learned{}, fmt.Errorf("line %d: already a merged proposal (merge the hosts' own files)", i+1)
		}
		l.Evidence, l.Note = suggest.Sanitize(l.Evidence, 1024), suggest.Sanitize(l.Note, 1024)
	}
	p.Table, p.Limit = suggest.Sanitize(p.Table, 64), ""
	host := suggest.Sanitize(doc.Host, 128)
	if host == "" {
		host = suggest.Sanitize(name, 128)
	}
	return unit, propose.Learned{Host: host, Proposal: p}, nil
}

// labelHosts makes the hosts' names unique ("web1", "web1 #2").
func labelHosts(hosts []propose.Learned) {
	seen := map[string]int{}
	for i := range hosts {
		h := hosts[i].Host
		seen[h]++
		if n := seen[h]; n > 1 {
			hosts[i].Host = fmt.Sprintf("%s #%d", h, n)
		}
	}
}
