// Package buildinfo says which build of seccompwatch is running: its
// version, VCS revision and build date, from -ldflags -X (through
// github.com/prometheus/common/version, as Prometheus exporters do: see
// the Makefile's build target) or else from what the Go toolchain recorded
// (debug.ReadBuildInfo: the module or pseudo-version and the vcs.*
// settings of a build in a git checkout). The same facts go into
// `seccompwatch version`, seccompwatch_build_info and every drop-in header;
// a build with none of them says that it cannot be traced.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// Info is what is known about this build; empty strings are unknown.
type Info struct {
	// Version is the release ("0.1.0", from -ldflags) or the Go module
	// version, often a pseudo-version that holds the commit
	// ("v0.0.0-20261201221505-0123456789ab+dirty").
	Version string
	// Revision is the VCS commit the build was made from.
	Revision string
	// Modified reports uncommitted changes in the tree that was built.
	Modified bool
	// BuildDate is when the binary was built (-ldflags only).
	BuildDate string
	// CommitTime is the revision's commit time (vcs.time).
	CommitTime string
}

// modified is "true" when -ldflags -X says the tree had uncommitted
// changes (the Makefile sets it with Revision; a toolchain VCS stamp has
// its own vcs.modified).
var modified string

// current is this binary's Info, read once.
var current = read()

func init() {
	// build_info and --version then agree when no -ldflags set a version.
	if version.Version == "" {
		version.Version = current.VersionOrDevel()
	}
}

func read() Info {
	i := Info{Version: version.Version, Revision: version.Revision, BuildDate: version.BuildDate, Modified: modified == "true"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if i.Revision == "" {
				i.Revision = s.Value
			}
		case "vcs.modified":
			i.Modified = i.Modified || s.Value == "true"
		case "vcs.time":
			i.CommitTime = s.Value
		}
	}
	return i
}

// Get returns this binary's Info.
func Get() Info { return current }

// Version returns the program version, e.g. "0.1.0", or "devel" when none
// is known.
func Version() string { return current.VersionOrDevel() }

// Generator names the program and build for output headers, e.g.
// "seccompwatch 0.1.0 (0123456789ab)"; see Info.Generator.
func Generator() string { return current.Generator() }

// VersionOrDevel returns Version, or "devel" when it is unknown.
func (i Info) VersionOrDevel() string {
	if i.Version == "" {
		return "devel"
	}
	return i.Version
}

// Traceable reports whether the build can be traced to its source: a
// version or a revision is known.
func (i Info) Traceable() bool { return i.Version != "" || i.Revision != "" }

// shortRev is the revision's first 12 characters (as Go pseudo-versions
// write it).
func (i Info) shortRev() string {
	if len(i.Revision) > 12 {
		return i.Revision[:12]
	}
	return i.Revision
}

// Generator names the program and build in at most 64 bytes, the way
// drop-in headers and the JSON "generator" carry it: "seccompwatch 0.1.0
// (0123456789ab)", "seccompwatch v0.0.0-20261201221505-0123456789ab+dirty"
// (the pseudo-version holds the commit already), or, for a build that
// cannot be traced, "seccompwatch devel (no version or revision: cannot
// be traced)".
func (i Info) Generator() string {
	if !i.Traceable() {
		return "seccompwatch devel (no version or revision: cannot be traced)"
	}
	s := "seccompwatch " + i.VersionOrDevel()
	if r := i.shortRev(); r != "" && !strings.Contains(i.Version, r) {
		if i.Modified {
			r += ", modified"
		}
		s += " (" + r + ")"
	}
	return s
}

// Long is the text of `seccompwatch version`: every fact on its own line.
func (i Info) Long() string {
	or := func(s, unknown string) string {
		if s == "" {
			return unknown
		}
		return s
	}
	rev := or(i.Revision, "unknown")
	if i.Modified {
		rev += " (modified)"
	}
	s := fmt.Sprintf("seccompwatch %s\n  revision:    %s\n  commit time: %s\n  build date:  %s\n  go:          %s %s/%s\n",
		i.VersionOrDevel(), rev, or(i.CommitTime, "unknown"), or(i.BuildDate, "unknown"), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if !i.Traceable() {
		s += "  note:        no version or revision is known, so output of this build cannot be traced to its source;\n" +
			"               build with `make build` (or go build in a git checkout, or -ldflags -X github.com/prometheus/common/version.Version=...)\n"
	}
	return s
}
