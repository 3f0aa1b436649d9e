// Package buildinfo holds the program's version, set at link time through
// github.com/prometheus/common/version (-ldflags -X), with a fallback to the
// module version the Go toolchain recorded.
package buildinfo

import (
	"runtime/debug"

	"github.com/prometheus/common/version"
)

func init() {
	// build_info and --version then agree when no -ldflags set a version.
	if version.Version == "" {
		version.Version = Version()
	}
}

// Version returns the program version, e.g. "0.1.0" or "devel".
func Version() string {
	if version.Version != "" {
		return version.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Generator names the program and version for output headers, e.g.
// "seccompwatch 0.1.0".
func Generator() string { return "seccompwatch " + Version() }
