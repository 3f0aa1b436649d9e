// Package deps pins the project's direct dependencies while the packages that
// use them are written. It is removed once every dependency has a real user.
package deps

import (
	_ "github.com/alecthomas/kingpin/v2"
	_ "github.com/cilium/ebpf"
	_ "github.com/cilium/ebpf/asm"
	_ "github.com/coreos/go-systemd/v22/daemon"
	_ "github.com/coreos/go-systemd/v22/dbus"
	_ "github.com/coreos/go-systemd/v22/unit"
	_ "github.com/elastic/go-libaudit/v2"
	_ "github.com/elastic/go-seccomp-bpf"
	_ "github.com/godbus/dbus/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/collectors"
	_ "github.com/prometheus/client_golang/prometheus/collectors/version"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/prometheus/common/version"
	_ "go.uber.org/zap"
	_ "go.uber.org/zap/zaptest"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
)
