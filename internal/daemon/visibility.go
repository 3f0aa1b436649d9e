package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/seccompwatch/seccompwatch/internal/httpapi"
	"github.com/seccompwatch/seccompwatch/internal/metrics"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
)

// Visibility: what on this host keeps seccomp denials from ever reaching
// the audit stream, checked at start and then periodically, exported as
// metrics (metrics.Visibility) and in /healthz (check "visibility"):
//
//   - audit=0 on the kernel command line: the kernel has no audit netlink
//     socket and emits no audit record at all until it is booted without;
//   - /proc/sys/kernel/seccomp/actions_logged lacking an action: denials
//     with that action are never logged, whatever the filter asks;
//   - units whose SystemCallFilter= returns an errno while the service
//     manager does not load filters with the log flag
//     (SYSTEMD_LOG_SECCOMP=1, FACTS.md): their denials leave no record.

// visibilityActions are the seccomp actions whose logging is reported;
// kill_process, kill_thread, errno and log are what systemd's filters use.
var visibilityActions = []string{"kill_process", "kill_thread", "trap", "errno", "user_notif", "trace", "log"}

// visibilityUnitsRefresh is how often the unit files are rescanned for
// errno-action filters; the kernel and manager checks run every
// visibilityRefresh.
const (
	visibilityRefresh      = 30 * time.Second
	visibilityUnitsRefresh = 5 * time.Minute
)

// maxErrnoUnitsListed bounds the unit names /healthz lists.
const maxErrnoUnitsListed = 10

// visibility runs the checks. procRoot is /proc; root is the file system
// root the manager's configuration and the unit files are read under
// (--units.root).
type visibility struct {
	procRoot, root string
	files          *unitprops.Files
	log            *zap.Logger

	mu  sync.Mutex
	rep visibilityReport
}

// visibilityReport is the result of one round of checks.
type visibilityReport struct {
	checked bool
	// auditDisabled: audit=0 (or off) on the kernel command line.
	auditDisabled bool
	// actionsLogged maps each of visibilityActions to whether the kernel
	// logs it; nil when actions_logged could not be read (actionsErr).
	actionsLogged map[string]bool
	actionsErr    string
	// manager is the service manager's seccomp logging.
	manager managerLogging
	// errnoUnits are the host's units whose filter returns an errno,
	// sorted; errnoErr says why the list is unknown (nil list).
	errnoUnits []string
	errnoErr   string
	unitsAt    time.Time
}

// managerLogging says whether the system manager loads seccomp filters with
// the log flag. Known is false when there is no systemd manager to ask.
type managerLogging struct {
	Known, Logs bool
	// How says where the answer comes from (or why it is not known).
	How string
}

func newVisibility(root string, files *unitprops.Files, log *zap.Logger) *visibility {
	if root == "" {
		root = "/"
	}
	return &visibility{procRoot: "/proc", root: root, files: files, log: log}
}

// check runs one round: the kernel and manager checks always, the unit
// scan when it is due (or force). Newly found problems are logged once.
func (v *visibility) check(ctx context.Context, force bool) {
	v.mu.Lock()
	prev := v.rep
	v.mu.Unlock()

	var r visibilityReport
	r.checked = true
	if b, err := os.ReadFile(filepath.Join(v.procRoot, "cmdline")); err == nil {
		r.auditDisabled = cmdlineAuditDisabled(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(v.procRoot, "sys/kernel/seccomp/actions_logged")); err == nil {
		r.actionsLogged = parseActionsLogged(string(b))
	} else {
		r.actionsErr = err.Error()
	}
	r.manager = v.managerLogging()
	r.errnoUnits, r.errnoErr, r.unitsAt = prev.errnoUnits, prev.errnoErr, prev.unitsAt
	if force || !prev.checked || time.Since(prev.unitsAt) >= visibilityUnitsRefresh {
		r.errnoUnits, r.errnoErr = v.errnoUnits(ctx)
		r.unitsAt = time.Now()
	}

	v.mu.Lock()
	v.rep = r
	v.mu.Unlock()

	old := map[string]bool{}
	for _, p := range prev.problems() {
		old[p] = true
	}
	for _, p := range r.problems() {
		if !old[p] {
			v.log.Warn("seccomp denials cannot be seen", zap.String("problem", p))
		}
	}
}

// run repeats the checks until ctx ends.
func (v *visibility) run(ctx context.Context) {
	t := time.NewTicker(visibilityRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.check(ctx, false)
		}
	}
}

func (v *visibility) report() visibilityReport {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.rep
}

// hint explains a failure to open the audit stream when the kernel
// command line disabled audit, else "".
func (v *visibility) hint() string {
	if v.report().auditDisabled {
		return " (audit=0 is on the kernel command line: the kernel has no audit netlink socket and emits no audit record until it is booted without it)"
	}
	return ""
}

// metrics returns the report for the collector.
func (r visibilityReport) metrics() metrics.Visibility {
	m := metrics.Visibility{Checked: r.checked, AuditDisabled: r.auditDisabled, ActionsLogged: r.actionsLogged,
		ManagerKnown: r.manager.Known, ManagerLogs: r.manager.Logs, ErrnoUnits: -1}
	if r.errnoErr == "" {
		m.ErrnoUnits = len(r.errnoUnits)
	}
	return m
}

// problems lists what keeps denials from being seen, each with its fix.
func (r visibilityReport) problems() []string {
	var out []string
	if r.auditDisabled {
		out = append(out, "audit=0 on the kernel command line: the kernel emits no audit record; remove it from the boot loader's command line and reboot")
	}
	var missing []string
	for _, a := range []string{"kill_process", "kill_thread", "errno", "log"} {
		if r.actionsLogged != nil && !r.actionsLogged[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("/proc/sys/kernel/seccomp/actions_logged lacks %s: those denials are never logged; fix: sysctl -w kernel.seccomp.actions_logged=\"kill_process kill_thread trap errno user_notif trace log\"",
			strings.Join(missing, " ")))
	}
	if r.manager.Known && !r.manager.Logs && len(r.errnoUnits) > 0 {
		names := r.errnoUnits
		more := ""
		if len(names) > maxErrnoUnitsListed {
			more = fmt.Sprintf(" and %d more", len(names)-maxErrnoUnitsListed)
			names = names[:maxErrnoUnitsListed]
		}
		out = append(out, fmt.Sprintf("%d unit(s) deny with an errno while the service manager does not log seccomp (%s): %s%s; their denials leave no record; fix: ManagerEnvironment=SYSTEMD_LOG_SECCOMP=1 under [Manager] in /etc/systemd/system.conf.d/50-log-seccomp.conf, systemctl daemon-reload, then restart those units",
			len(r.errnoUnits), r.manager.How, strings.Join(names, ", "), more))
	}
	return out
}

// health is the /healthz check. It does not make the daemon unhealthy:
// the daemon works, the host hides denials from it.
func (r visibilityReport) health() httpapi.Check {
	if !r.checked {
		return httpapi.Check{OK: true, Status: "not checked yet"}
	}
	var notes []string
	if r.actionsErr != "" {
		notes = append(notes, "actions_logged not readable: "+r.actionsErr)
	}
	if !r.manager.Known {
		notes = append(notes, "service manager logging not checked: "+r.manager.How)
	}
	if r.errnoErr != "" {
		notes = append(notes, "unit files not scanned: "+r.errnoErr)
	}
	if p := r.problems(); len(p) > 0 {
		return httpapi.Check{OK: false, Status: "some denials cannot be seen", Detail: strings.Join(append(p, notes...), "; ")}
	}
	return httpapi.Check{OK: true, Status: "every denial can be logged", Detail: strings.Join(notes, "; ")}
}

// cmdlineAuditDisabled reports whether a kernel command line disables
// audit (audit=0 or audit=off; the last audit= wins). Words after "--"
// are init's, not the kernel's.
func cmdlineAuditDisabled(cmdline string) bool {
	off := false
	for _, w := range kernelParams(cmdline) {
		if v, ok := strings.CutPrefix(w, "audit="); ok {
			off = v == "0" || strings.EqualFold(v, "off")
		}
	}
	return off
}

// kernelParams splits a kernel command line into its parameters the way
// the kernel's next_arg does (double quotes group, and are removed), up to
// a bare "--".
func kernelParams(cmdline string) []string {
	var out []string
	var b strings.Builder
	quoted, have := false, false
	flush := func() bool {
		if !have {
			return true
		}
		w := b.String()
		b.Reset()
		have = false
		if w == "--" {
			return false
		}
		out = append(out, w)
		return true
	}
	for _, c := range cmdline {
		switch {
		case c == '"':
			quoted = !quoted
			have = true
		case !quoted && (c == ' ' || c == '\t' || c == '\n' || c == 0):
			if !flush() {
				return out
			}
		default:
			b.WriteRune(c)
			have = true
		}
	}
	flush()
	return out
}

// envWords splits an environment assignment list (DefaultEnvironment=,
// ManagerEnvironment=) into its words; single or double quotes group and
// are removed.
func envWords(s string) []string {
	var out []string
	var b strings.Builder
	var quote rune
	have := false
	for _, c := range s {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote, have = c, true
		case quote == 0 && (c == ' ' || c == '\t' || c == '\n'):
			if have {
				out = append(out, b.String())
				b.Reset()
				have = false
			}
		default:
			b.WriteRune(c)
			have = true
		}
	}
	if have {
		out = append(out, b.String())
	}
	return out
}

// parseActionsLogged reads /proc/sys/kernel/seccomp/actions_logged.
func parseActionsLogged(s string) map[string]bool {
	m := make(map[string]bool, len(visibilityActions))
	for _, a := range visibilityActions {
		m[a] = false
	}
	for _, w := range strings.Fields(s) {
		if _, ok := m[w]; ok {
			m[w] = true
		}
	}
	return m
}

// managerLogging finds out whether the system manager logs seccomp
// denials: from PID 1's environment when it is readable (root), else from
// the configuration it reads (system.conf and its drop-ins,
// ManagerEnvironment=; the kernel command line, whose KEY=VALUE words reach
// PID 1's environment), which takes effect at daemon-reload or boot.
func (v *visibility) managerLogging() managerLogging {
	if fi, err := os.Stat(filepath.Join(v.root, "run/systemd/system")); err != nil || !fi.IsDir() {
		return managerLogging{How: "this system was not booted with systemd"}
	}
	var environ []string
	if v.root == "/" {
		if b, err := os.ReadFile(filepath.Join(v.procRoot, "1/environ")); err == nil {
			environ = strings.Split(string(b), "\x00")
		}
	}
	var cmdline []string
	if b, err := os.ReadFile(filepath.Join(v.procRoot, "cmdline")); err == nil {
		cmdline = kernelParams(string(b))
	}
	return managerLogs(environ, cmdline, managerEnvironment(v.root))
}

// managerLogs decides whether the system manager logs seccomp from PID 1's
// environment block (nil when it is not readable, as for the packaged
// service's own user), the kernel command line's words and the
// ManagerEnvironment= words of its configuration. /proc/1/environ shows
// only what PID 1 was started with: ManagerEnvironment= takes effect at
// daemon-reload (seen in the VM: errno denials logged after a reload,
// /proc/1/environ without the variable), so the configuration counts too.
// (A file not yet reloaded counts as well: the check's own advice says to
// reload.)
func managerLogs(environ, cmdline, config []string) managerLogging {
	if environ != nil {
		return managerLogging{Known: true, Logs: unitprops.EnvLogSeccomp(environ) || unitprops.EnvLogSeccomp(config),
			How: "checked in PID 1's environment and in system.conf and its drop-ins"}
	}
	env := append(slices.Clone(cmdline), config...)
	return managerLogging{Known: true, Logs: unitprops.EnvLogSeccomp(env),
		How: "checked in system.conf, its drop-ins and the kernel command line; PID 1's environment is not readable"}
}

// managerEnvironment returns the ManagerEnvironment= words of the system
// manager's configuration under root, in the order systemd applies them;
// an empty assignment clears what came before.
func managerEnvironment(root string) []string {
	var env []string
	for _, a := range unitprops.ManagerSettings(root, "ManagerEnvironment") {
		if strings.TrimSpace(a.Value) == "" {
			env = nil
			continue
		}
		env = append(env, envWords(a.Value)...)
	}
	return env
}

// errnoUnits lists the host's units (unit files) whose sandbox answers
// some denial with an errno (unitprops.ErrnoDenials): SystemCallFilter=
// with an errno, or another seccomp-backed directive such as
// RestrictNamespaces= or ProtectClock=, which always return one.
func (v *visibility) errnoUnits(ctx context.Context) ([]string, string) {
	if v.files == nil {
		return nil, "no unit files"
	}
	names, err := v.files.ListUnits(ctx)
	if err != nil {
		return nil, err.Error()
	}
	var out []string
	for _, n := range names {
		if ctx.Err() != nil {
			return nil, ctx.Err().Error()
		}
		// A unit whose files could only partly be read counts with what
		// was read, as in the exe index.
		p, _ := v.files.Props(ctx, n)
		if !p.Found {
			continue
		}
		if unitprops.ErrnoDenials(p) {
			out = append(out, n)
		}
	}
	return out, ""
}
