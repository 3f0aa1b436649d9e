// Command seccompwatch watches seccomp denials, attributes them to systemd
// units and proposes SystemCallFilter= drop-ins. See `seccompwatch --help`.
package main

import (
	"os"

	"github.com/seccompwatch/seccompwatch/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
