package cli

import (
	"net/url"
	"strconv"

	"github.com/alecthomas/kingpin/v2"
)

func registerDenials(app *kingpin.Application, e *env, cmds map[string]func() error) {
	c := app.Command("denials", `List the denials a running daemon has seen (JSON, record schema).

Examples:
  seccompwatch denials
  seccompwatch denials --unit nginx.service --limit 20`)
	unit := c.Flag("unit", "Only this unit's denials.").String()
	limit := c.Flag("limit", "At most this many, newest last.").Default("100").Int()
	server := serverFlag(c)
	cmds[c.FullCommand()] = func() error {
		q := url.Values{"limit": {strconv.Itoa(*limit)}}
		if *unit != "" {
			q.Set("unit", *unit)
		}
		return getTo(e.stdout, *server, "/api/v1/denials", q)
	}
}
