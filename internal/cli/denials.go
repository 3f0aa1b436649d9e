package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
)

func registerDenials(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("denials", `List the denials a running daemon has seen, newest last.

Examples:
  seccompwatch denials
  seccompwatch denials --unit nginx --limit 20      # nginx.service
  seccompwatch denials --output jsonl | jq .syscall  # record schema, one per line
  SECCOMPWATCH_SERVER=http://10.0.0.5:9872 seccompwatch denials`)
	unit := c.Flag("unit", "Only this unit's denials (a name without a type is a .service, as in systemctl; a user's unit as user@UID.service/NAME).").String()
	limit := c.Flag("limit", "At most this many, newest last.").Default("100").Int()
	output := c.Flag("output", "text, jsonl (one record per line, record schema), or json (the daemon's document).").Default("text").Enum("text", "jsonl", "json")
	server := serverFlag(c)
	cmds[c.FullCommand()] = func() error {
		q := url.Values{"limit": {strconv.Itoa(*limit)}}
		if *unit != "" {
			u := unitname.CompleteRef(*unit)
			if err := unitname.ValidateRef(u, unitname.Any); err != nil {
				return usagef("--unit: %v", err)
			}
			q.Set("unit", u)
		}
		if *output == "json" {
			return getTo(e.stdout, *server, "/api/v1/denials", q)
		}
		var body bytes.Buffer
		if err := getTo(&body, *server, "/api/v1/denials", q); err != nil {
			return err
		}
		return writeDenials(e, body.Bytes(), *output)
	}
}

// denialRow holds the record schema's keys that the text form shows.
type denialRow struct {
	Time      *string  `json:"time"`
	Unit      string   `json:"unit"`
	Machine   string   `json:"machine"`
	PID       int      `json:"pid"`
	Comm      string   `json:"comm"`
	Exe       *string  `json:"exe"`
	Arch      string   `json:"arch"`
	SyscallNr int      `json:"syscall_nr"`
	Syscall   string   `json:"syscall"`
	Action    string   `json:"action"`
	Groups    []string `json:"groups"`
}

// writeDenials writes the daemon's /api/v1/denials document as text or
// JSON lines.
func writeDenials(e *env, doc []byte, output string) error {
	var d struct {
		Denials []json.RawMessage `json:"denials"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("the daemon's answer is not a denials document: %v", err)
	}
	w := bufio.NewWriter(e.stdout)
	var b []byte
	for _, raw := range d.Denials {
		if output == "jsonl" {
			var c bytes.Buffer
			if err := json.Compact(&c, raw); err != nil {
				return err
			}
			b = append(c.Bytes(), '\n')
		} else {
			var r denialRow
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("the daemon sent a denial that is not a record: %v", err)
			}
			row := textRow{Unit: r.Unit, Machine: r.Machine, PID: r.PID, Comm: r.Comm, ExeNull: r.Exe == nil,
				Arch: r.Arch, Syscall: r.Syscall, Nr: r.SyscallNr, Action: r.Action, Groups: r.Groups}
			if r.Exe != nil {
				row.Exe = *r.Exe
			}
			if r.Time != nil {
				row.Time, _ = time.Parse(time.RFC3339Nano, *r.Time)
			}
			b = appendRow(b[:0], &row)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if len(d.Denials) == 0 {
		fmt.Fprintln(e.stderr, "no denials recorded")
	}
	return w.Flush()
}
