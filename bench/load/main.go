// Command load drives a running `seccompwatch run` with real seccomp
// denials and measures it from the outside, through its public surfaces:
//
//	load latency -server URL -events FILE [-rate 1000] [-duration 10s]
//	    a process in a unit-shaped cgroup makes denied (errno+log) calls at
//	    RATE per second; for each call, the time until it is visible in
//	    /metrics (polled every 5 ms) and in the event stream; prints
//	    p50/p90/p99/max.
//	load rate [-rate 1000] [-duration 10s]
//	    the same denied calls at RATE per second, nothing polled (for the
//	    daemon's CPU at that rate, measured by the caller).
//	load pairs -server URL -pid PID [-units 100] [-syscalls 100]
//	    UNITS processes in as many unit cgroups each make SYSCALLS distinct
//	    denied calls (UNITS×SYSCALLS distinct unit×syscall pairs); prints
//	    the daemon's RSS (VmRSS of PID) before and after.
//
// Needs root (cgroups, seccomp); removes the cgroups it creates.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/testutil/denier"
)

func main() {
	denier.MaybeRun()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load latency|rate|pairs [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "latency":
		err = latency(os.Args[2:])
	case "rate":
		err = rate(os.Args[2:])
	case "pairs":
		err = pairs(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func metricValue(server, prefix string) (float64, error) {
	resp, err := http.Get(server + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var sum float64
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, prefix) {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum, sc.Err()
}

func latency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	server := fs.String("server", "http://127.0.0.1:9872", "daemon URL")
	events := fs.String("events", "", "the daemon's --events.file")
	rate := fs.Int("rate", 1000, "denied calls per second")
	duration := fs.Duration("duration", 10*time.Second, "how long")
	fs.Parse(args)
	if *events == "" {
		return errors.New("-events is required")
	}
	unit := fmt.Sprintf("swbench-lat-%d.service", os.Getpid())
	dirs, cleanup, err := denier.UnitCgroups("swbench.slice", unit)
	if err != nil {
		return err
	}
	defer cleanup()
	n := int(duration.Seconds() * float64(*rate))
	metric := fmt.Sprintf(`seccompwatch_denials_total{action="errno",arch="x86_64",machine="",risky="false",syscall="getcpu",unit=%q}`, unit)

	ev, err := os.Open(*events)
	if err != nil {
		return err
	}
	defer ev.Close()
	if _, err := ev.Seek(0, io.SeekEnd); err != nil {
		return err
	}

	cmd, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: n, Rate: *rate, Cgroups: dirs})
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sent := make(chan []time.Time, 1)
	go func() {
		var ts []time.Time
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ns, _ := strconv.ParseInt(sc.Text(), 10, 64)
			ts = append(ts, time.Unix(0, ns))
		}
		sent <- ts
	}()

	// Poll /metrics and tail the event stream until all n are seen.
	var metricSeen, eventSeen []time.Time
	rd := bufio.NewReader(ev)
	var partial []byte
	deadline := time.Now().Add(*duration + 30*time.Second)
	for (len(metricSeen) < n || len(eventSeen) < n) && time.Now().Before(deadline) {
		now := time.Now()
		if len(metricSeen) < n {
			if v, err := metricValue(*server, metric); err == nil {
				for len(metricSeen) < int(v) {
					metricSeen = append(metricSeen, now)
				}
			}
		}
		for {
			line, err := rd.ReadBytes('\n')
			partial = append(partial, line...)
			if err != nil {
				break
			}
			if strings.Contains(string(partial), `"unit":"`+unit+`"`) {
				eventSeen = append(eventSeen, now)
			}
			partial = partial[:0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("workload: %v", err)
	}
	ts := <-sent
	fmt.Printf("workload: %d denied calls at %d/s in unit %s\n", len(ts), *rate, unit)
	report("kernel → /metrics", ts, metricSeen)
	report("kernel → event stream", ts, eventSeen)
	return nil
}

func rate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	rate := fs.Int("rate", 1000, "denied calls per second")
	duration := fs.Duration("duration", 10*time.Second, "how long")
	fs.Parse(args)
	unit := fmt.Sprintf("swbench-rate-%d.service", os.Getpid())
	dirs, cleanup, err := denier.UnitCgroups("swbench.slice", unit)
	if err != nil {
		return err
	}
	defer cleanup()
	n := int(duration.Seconds() * float64(*rate))
	cmd, err := denier.Command(denier.Spec{Syscall: "getcpu", Action: "errno", Log: true, Count: n, Rate: *rate, Cgroups: dirs})
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("workload: %v", err)
	}
	fmt.Printf("workload: %d denied calls at %d/s in unit %s\n", n, *rate, unit)
	return nil
}

func report(name string, sent, seen []time.Time) {
	n := min(len(sent), len(seen))
	if n == 0 {
		fmt.Printf("%-24s nothing seen\n", name)
		return
	}
	d := make([]time.Duration, n)
	for i := range n {
		d[i] = seen[i].Sub(sent[i])
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(n-1, int(p*float64(n)))].Round(100 * time.Microsecond) }
	fmt.Printf("%-24s seen %d/%d  p50 %v  p90 %v  p99 %v  max %v (includes the 5 ms poll)\n",
		name, len(seen), len(sent), q(0.5), q(0.9), q(0.99), d[n-1].Round(100*time.Microsecond))
}

// pairSyscalls are x86_64 syscalls the Go runtime never makes on its own:
// denied with errno, they never run.
var pairSyscalls = strings.Fields(`
acct add_key adjtimex afs_syscall bpf chroot clock_adjtime clock_settime create_module delete_module
fanotify_init fanotify_mark finit_module fsconfig fsmount fsopen fspick get_kernel_syms get_mempolicy getpmsg
init_module io_cancel io_destroy io_getevents io_pgetevents io_setup io_submit io_uring_enter io_uring_register io_uring_setup
ioperm iopl kcmp kexec_file_load kexec_load keyctl lookup_dcookie mbind migrate_pages mount
mount_setattr move_mount move_pages name_to_handle_at nfsservctl open_by_handle_at open_tree perf_event_open personality pivot_root
pkey_alloc pkey_free pkey_mprotect process_vm_readv process_vm_writev ptrace putpmsg query_module quotactl reboot
remap_file_pages request_key security set_mempolicy setdomainname sethostname settimeofday setns swapoff swapon
sysfs _sysctl syslog tuxcall umount2 unshare uselib userfaultfd ustat vhangup
vserver landlock_add_rule landlock_create_ruleset landlock_restrict_self memfd_secret process_madvise quotactl_fd
setfsgid setfsuid setgroups setresgid setresuid setregid setreuid setgid setuid capset
sync_file_range tee vmsplice
`)

func rss(pid int) (int, error) { return statusKB(pid, "VmRSS:") }

// statusKB returns a kB field of /proc/PID/status (VmRSS:, RssAnon:, ...).
func statusKB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return kb, nil
		}
	}
	return 0, errors.New("no " + field)
}

func pairs(args []string) error {
	fs := flag.NewFlagSet("pairs", flag.ExitOnError)
	server := fs.String("server", "http://127.0.0.1:9872", "daemon URL")
	pid := fs.Int("pid", 0, "the daemon's pid (for VmRSS)")
	units := fs.Int("units", 100, "distinct units")
	nsys := fs.Int("syscalls", 100, "distinct syscalls per unit")
	fs.Parse(args)
	if *nsys > len(pairSyscalls) {
		return fmt.Errorf("at most %d syscalls", len(pairSyscalls))
	}
	before, err := rss(*pid)
	if err != nil {
		return err
	}
	// The peak (VmHWM) from here on, not the start-up's (BTF parsing).
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", *pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the peak RSS: %w", err)
	}
	names := pairSyscalls[:*nsys]
	start := time.Now()
	for u := range *units {
		unit := fmt.Sprintf("swbench-pair-%03d.service", u)
		dirs, cleanup, err := denier.UnitCgroups("swbench.slice", unit)
		if err != nil {
			return err
		}
		cmd, err := denier.Command(denier.Spec{Syscall: names[0], More: names[1:], Action: "errno", Log: true, Cgroups: dirs})
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		var ee *exec.ExitError
		if err := cmd.Run(); err != nil && !errors.As(err, &ee) {
			return err
		}
		cleanup()
	}
	made := time.Since(start)
	// Every denial is either in a series or counted as overflow once the
	// daemon has read them all; wait for that (not for a time since the
	// first denial: 200,000 take longer than a minute to make).
	want := float64(*units * *nsys)
	var got, series float64
	var merr error
	for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var e1, e2 error
		got, e1 = metricValue(*server, `seccompwatch_denials_total{action="errno",arch="x86_64"`)
		series, e2 = metricValue(*server, "seccompwatch_series_overflow_total")
		if merr = errors.Join(e1, e2); merr == nil && got+series >= want {
			break
		}
	}
	if merr != nil {
		fmt.Fprintf(os.Stderr, "pairs: /metrics: %v\n", merr)
	}
	fmt.Printf("pairs: made in %.1f s, read %.1f s later\n", made.Seconds(), (time.Since(start) - made).Seconds())
	// The peak so far is the record path's; the suggestions' request
	// below has its own.
	hwmRecords, _ := statusKB(*pid, "VmHWM:")
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", *pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the peak RSS: %w", err)
	}
	resp, err := http.Get(*server + "/api/v1/suggestions?format=json")
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(2 * time.Second)
	after, err := rss(*pid)
	if err != nil {
		return err
	}
	fmt.Printf("pairs: %d units × %d syscalls = %.0f denials made, %.0f counted, overflow %.0f\n", *units, *nsys, want, got, series)
	fmt.Printf("daemon RSS: %.1f MB before, %.1f MB after (goal < 30 MB)\n", float64(before)/1024, float64(after)/1024)
	anon, _ := statusKB(*pid, "RssAnon:")
	file, _ := statusKB(*pid, "RssFile:")
	fmt.Printf("daemon RSS after: %.1f MB anonymous (heap, stacks, runtime), %.1f MB file-backed (the binary's pages)\n", float64(anon)/1024, float64(file)/1024)
	hwm, _ := statusKB(*pid, "VmHWM:")
	fmt.Printf("daemon peak RSS: %.1f MB while the pairs were made and read, %.1f MB around one GET /api/v1/suggestions\n", float64(hwmRecords)/1024, float64(hwm)/1024)
	return nil
}
