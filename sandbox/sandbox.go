// Package sandbox models a systemd unit's seccomp sandbox: every setting
// that the unit's systemd turns into a seccomp filter (SystemCallFilter=,
// SystemCallArchitectures=, and the directives of directives.tsv such as
// MemoryDenyWriteExecute= or ProtectClock=), each with where it was set,
// and judges a denial against it (Judge): which setting denied the call,
// and which change would lift it.
//
// The package only models and judges; reading a unit's files or D-Bus
// properties into a Sandbox is internal/unitprops' job, and turning
// verdicts into a drop-in is suggest's.
package sandbox

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultVersion is the systemd version whose rules apply when the unit's
// systemd version is unknown: the one the rules were checked against.
const DefaultVersion = 252

// Source is where a setting was made: a file and line, or a D-Bus
// property.
type Source struct {
	// File is the unit file or drop-in (as seen by the unit's systemd),
	// or "" for a D-Bus property.
	File string `json:"file,omitempty"`
	// Line is 1-based; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Property names the D-Bus property the value was read from.
	Property string `json:"property,omitempty"`
}

// String returns "FILE:LINE", "FILE", "D-Bus property NAME" or "unknown".
func (s Source) String() string {
	switch {
	case s.File != "" && s.Line > 0:
		return s.File + ":" + strconv.Itoa(s.Line)
	case s.File != "":
		return s.File
	case s.Property != "":
		return "D-Bus property " + s.Property
	}
	return "unknown"
}

// Setting is the effective value of one directive, with the assignments
// that made it.
type Setting struct {
	// Value is the effective value in unit-file spelling ("yes",
	// "AF_INET AF_UNIX", "~AF_PACKET", "cgroup ipc").
	Value string `json:"value"`
	// Sources are the assignments since the last reset, in order.
	Sources []Source `json:"sources,omitempty"`
}

// Sandbox is a unit's seccomp-backed configuration.
type Sandbox struct {
	// Known is false when the unit's configuration could not be read;
	// Unknown says why. Nothing else is meaningful then.
	Known   bool
	Unknown string
	// Version is the unit's systemd version (0: unknown, DefaultVersion's
	// rules apply).
	Version int
	// Filter is SystemCallFilter=.
	Filter Filter
	// ErrorNumber is SystemCallErrorNumber= ("" or "kill": the process is
	// killed), with where it was set.
	ErrorNumber       string
	ErrorNumberSource Source
	// Architectures is the unit's SystemCallArchitectures= (systemd
	// spellings; empty: unrestricted), Manager the manager-wide one of
	// system.conf, which every unit inherits.
	Architectures        Setting
	ManagerArchitectures Setting
	// Settings holds the other directives (keys of Directives) that are
	// set, and DynamicUser= (which forces RestrictSUIDSGID=yes).
	Settings map[string]Setting
	// Dropped lists the words of other settings systemd ignores (an
	// unknown address family, a value that is not a boolean), with where,
	// for warnings; Filter.Dropped has SystemCallFilter='s.
	Dropped []string
	// ChangedAt is when the unit's configuration last changed (the newest
	// modification time of its files), zero when unknown: the evidence a
	// "stale" verdict needs.
	ChangedAt time.Time `json:"-"`
}

// Set records a directive's value (nil Settings is allocated).
func (s *Sandbox) Set(directive, value string, src Source) {
	if s.Settings == nil {
		s.Settings = make(map[string]Setting)
	}
	st := s.Settings[directive]
	st.Value = value
	st.Sources = append(st.Sources, src)
	s.Settings[directive] = st
}

// Assign applies one unit-file assignment of a directive this package
// models (other than SystemCallFilter=, which Filter.Assign handles), with
// systemd's merging: boolean settings take the last value, an empty
// assignment resets; RestrictAddressFamilies= lists merge like
// SystemCallFilter= (the first assignment decides allow or "~" deny);
// RestrictNamespaces= and SystemCallArchitectures= lists merge. It reports
// whether the name is one it models.
func (s *Sandbox) Assign(name, value string, src Source) bool {
	value = strings.TrimSpace(value)
	if s.Settings == nil {
		s.Settings = make(map[string]Setting)
	}
	switch name {
	case "SystemCallArchitectures":
		s.Architectures = mergeList(s.Architectures, value, src)
		return true
	case "SystemCallErrorNumber":
		if value == "" {
			s.ErrorNumber, s.ErrorNumberSource = "", Source{}
		} else {
			s.ErrorNumber, s.ErrorNumberSource = value, src
		}
		return true
	case "RestrictAddressFamilies":
		s.assignFamilies(value, src)
		return true
	case "RestrictNamespaces":
		s.assignNamespaces(value, src)
		return true
	case "DynamicUser":
		s.assignBool(name, value, src)
		return true
	}
	for _, d := range Directives {
		if d == name {
			s.assignBool(name, value, src)
			return true
		}
	}
	return false
}

func (s *Sandbox) assignBool(name, value string, src Source) {
	if value == "" {
		delete(s.Settings, name)
		return
	}
	b, ok := ParseBool(value)
	if !ok {
		if name == "ProtectHostname" && value == "private" && s.version() >= 258 {
			s.Set(name, "private", src)
			return
		}
		s.Dropped = append(s.Dropped, value+" at "+src.String()+": not a boolean (systemd ignores the assignment)")
		return
	}
	if !b {
		delete(s.Settings, name)
		return
	}
	st := s.Settings[name]
	st.Value, st.Sources = "yes", append(st.Sources, src)
	s.Settings[name] = st
}

func (s *Sandbox) assignFamilies(value string, src Source) {
	if value == "" {
		delete(s.Settings, "RestrictAddressFamilies")
		return
	}
	// systemd drops families it does not know ("Failed to parse address
	// family, ignoring").
	invertIn := strings.HasPrefix(value, "~")
	var kept []string
	for _, f := range strings.Fields(strings.TrimPrefix(value, "~")) {
		if f != "none" && !addressFamilies[f] {
			s.Dropped = append(s.Dropped, f+" at "+src.String()+": not an address family systemd knows (systemd ignores it)")
			continue
		}
		kept = append(kept, f)
	}
	value = strings.Join(kept, " ")
	if invertIn {
		value = "~" + value
	}
	if value == "" || value == "~" {
		return
	}
	cur, ok := s.Settings["RestrictAddressFamilies"]
	if value == "none" {
		s.Settings["RestrictAddressFamilies"] = Setting{Value: "none", Sources: append(cur.Sources, src)}
		return
	}
	if !ok || cur.Value == "none" {
		s.Settings["RestrictAddressFamilies"] = Setting{Value: value, Sources: append(cur.Sources, src)}
		return
	}
	// Later assignments add to (or, inverted, take from) the first one's
	// set; the value keeps the first one's polarity.
	invertFirst := strings.HasPrefix(cur.Value, "~")
	set := map[string]bool{}
	for _, f := range strings.Fields(strings.TrimPrefix(cur.Value, "~")) {
		set[f] = true
	}
	invert := strings.HasPrefix(value, "~")
	for _, f := range strings.Fields(strings.TrimPrefix(value, "~")) {
		if invert == invertFirst {
			set[f] = true
		} else {
			delete(set, f)
		}
	}
	v := strings.Join(sortedKeys(set), " ")
	if invertFirst {
		v = "~" + v
	}
	s.Settings["RestrictAddressFamilies"] = Setting{Value: v, Sources: append(cur.Sources, src)}
}

func (s *Sandbox) assignNamespaces(value string, src Source) {
	if value == "" {
		delete(s.Settings, "RestrictNamespaces")
		return
	}
	if b, ok := ParseBool(value); ok {
		if !b {
			delete(s.Settings, "RestrictNamespaces")
			return
		}
		value = "yes"
	} else {
		// A type list, in systemd's order-free spelling (sorted).
		invert := strings.HasPrefix(value, "~")
		words := strings.Fields(strings.TrimPrefix(value, "~"))
		sort.Strings(words)
		value = strings.Join(words, " ")
		if invert {
			value = "~" + value
		}
	}
	cur := s.Settings["RestrictNamespaces"]
	s.Settings["RestrictNamespaces"] = Setting{Value: value, Sources: append(cur.Sources, src)}
}

// mergeList merges a word-list assignment: an empty one resets.
func mergeList(cur Setting, value string, src Source) Setting {
	if value == "" {
		return Setting{}
	}
	set := map[string]bool{}
	for _, w := range strings.Fields(cur.Value) {
		set[w] = true
	}
	for _, w := range strings.Fields(value) {
		set[w] = true
	}
	return Setting{Value: strings.Join(sortedKeys(set), " "), Sources: append(cur.Sources, src)}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// version is the systemd version whose rules apply.
func (s *Sandbox) version() int {
	if s.Version == 0 {
		return DefaultVersion
	}
	return s.Version
}

// ParseBool parses a boolean the way systemd's parse_boolean does.
func ParseBool(v string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// Resolve applies what one setting implies for another, as systemd does
// when it loads the unit: DynamicUser=yes forces RestrictSUIDSGID=yes
// (made where DynamicUser= was). Providers call it once the unit's
// assignments are merged.
func (s *Sandbox) Resolve() {
	if du, ok := s.Settings["DynamicUser"]; ok {
		if _, set := s.Settings["RestrictSUIDSGID"]; !set {
			s.Settings["RestrictSUIDSGID"] = Setting{Value: "yes", Sources: du.Sources}
		}
	}
}

// On reports whether a directive of Directives is in force: set to a value
// that restricts.
func (s *Sandbox) On(directive string) bool {
	st, ok := s.Settings[directive]
	if !ok {
		return false
	}
	switch directive {
	case "ProtectHostname":
		return st.Value == "yes"
	case "RestrictNamespaces":
		return st.Value != "no" && st.Value != "~"
	}
	return true
}

// DefaultAction is the action of SystemCallFilter= for calls it denies
// without an errno of their own: "kill_process", or "errno".
func (s *Sandbox) DefaultAction() string {
	if s.ErrorNumber == "" || s.ErrorNumber == "kill" {
		return "kill_process"
	}
	return "errno"
}

// Describe returns a directive's setting as "Directive=value (set at
// SOURCE, SOURCE)".
func (s *Sandbox) Describe(directive string) string {
	st := s.Settings[directive]
	if directive == "RestrictSUIDSGID" {
		if du, ok := s.Settings["DynamicUser"]; ok {
			return fmt.Sprintf("RestrictSUIDSGID=yes (forced by DynamicUser=yes%s)", at(du.Sources))
		}
	}
	return fmt.Sprintf("%s=%s%s", directive, st.Value, at(st.Sources))
}

func at(srcs []Source) string {
	if len(srcs) == 0 {
		return ""
	}
	parts := make([]string, len(srcs))
	for i, s := range srcs {
		parts[i] = s.String()
	}
	return ", set at " + strings.Join(parts, ", ")
}

// addressFamilies are the AF_* names systemd 252 knows (src/basic/af-list,
// from the kernel's linux/socket.h).
var addressFamilies = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(`AF_UNSPEC AF_UNIX AF_LOCAL AF_INET AF_AX25 AF_IPX AF_APPLETALK AF_NETROM AF_BRIDGE
		AF_ATMPVC AF_X25 AF_INET6 AF_ROSE AF_DECnet AF_NETBEUI AF_SECURITY AF_KEY AF_NETLINK AF_ROUTE AF_PACKET
		AF_ASH AF_ECONET AF_ATMSVC AF_RDS AF_SNA AF_IRDA AF_PPPOX AF_WANPIPE AF_LLC AF_IB AF_MPLS AF_CAN AF_TIPC
		AF_BLUETOOTH AF_IUCV AF_RXRPC AF_ISDN AF_PHONET AF_IEEE802154 AF_CAIF AF_ALG AF_NFC AF_VSOCK AF_KCM
		AF_QIPCRTR AF_SMC AF_XDP AF_MCTP`) {
		m[f] = true
	}
	return m
}()
