package observe

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// BenchmarkOverhead measures what learning costs, in one run on the host
// kernel: a getppid loop with no program, with the program attached and
// this process outside the learned cgroup (the cost to every other process
// on the host), and inside it; then nginx serving a small file on loopback
// to wrk, with and without the program attached to nginx's cgroup
// (12 pairs of 2 s runs in alternating order, nginx and wrk pinned to
// CPUs 0 and 1, the loading's garbage collected before each attached run;
// req/s medians, and the median and quartiles of the per-pair ratio are
// reported).
//
//	flock /tmp/seccompwatch-privtest.lock go test -run '^$' -bench Overhead -benchtime 1000000x ./internal/observe/
func BenchmarkOverhead(b *testing.B) {
	testutil.RequireRoot(b, "loads an eBPF program and moves itself between cgroups")
	mount, unit, sub := learnCgroup(b)
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		b.Fatal(err)
	}
	home := ""
	for _, l := range regexp.MustCompile(`(?m)^0::(.*)$`).FindAllStringSubmatch(string(self), 1) {
		home = filepath.Join(mount, l[1])
	}
	if home == "" {
		b.Fatal("no cgroup2 line in /proc/self/cgroup")
	}
	moveSelf := func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// Alternating rounds (the host is shared: a single run of each would
	// measure the neighbours), medians of ns per call.
	b.Run("getppid", func(b *testing.B) {
		// The thread's own CPU time (user+sys): time spent waiting for a
		// CPU the neighbours hold is not counted.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu := func() time.Duration {
			var ru unix.Rusage
			if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
				b.Fatal(err)
			}
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		timed := func() float64 {
			t0 := cpu()
			for range b.N {
				syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			}
			return float64((cpu() - t0).Nanoseconds()) / float64(b.N)
		}
		var off, outside, inside []float64
		for range 7 {
			off = append(off, timed())
			ob, err := New(Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ob.Add(mount, unit); err != nil {
				ob.Close()
				b.Fatal(err)
			}
			outside = append(outside, timed())
			moveSelf(sub)
			inside = append(inside, timed())
			moveSelf(home)
			ob.Close()
		}
		b.ReportMetric(median(off), "ns/call-detached")
		b.ReportMetric(median(outside), "ns/call-outside")
		b.ReportMetric(median(inside), "ns/call-inside")
		b.Logf("ns of CPU per call: detached %.0f, attached outside the cgroup %.0f, inside %.0f", off, outside, inside)
	})
	b.Run("nginx", func(b *testing.B) { benchNginx(b, mount, sub) })
}

func benchNginx(b *testing.B, mount, cg string) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
	}
	wrk, err := exec.LookPath("wrk")
	if _, serr := os.Stat(nginx); serr != nil || err != nil {
		testutil.Unavailable(b, "needs nginx and wrk (scripts/setup.sh installs them)")
	}
	dir := b.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("<p>hello</p>\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off; master_process on; worker_processes 1; user root;
pid %[1]s/nginx.pid; error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/cb; proxy_temp_path %[1]s/px; fastcgi_temp_path %[1]s/fc;
	uwsgi_temp_path %[1]s/uw; scgi_temp_path %[1]s/sc;
	server { listen 127.0.0.1:%[2]d; root %[1]s/www; }
}
`, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cgfd, err := syscall.Open(cg, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(cgfd)
	// On a host with two CPUs or more, nginx (master and worker) runs on
	// CPU 0 and wrk on CPU 1, so that they do not take turns on one CPU
	// differently from one round to the next.
	pin := func(cpu string, argv ...string) []string { return argv }
	taskset, terr := exec.LookPath("taskset")
	pinned := terr == nil && runtime.NumCPU() >= 2
	if pinned {
		pin = func(cpu string, argv ...string) []string { return append([]string{taskset, "-c", cpu}, argv...) }
	}
	argv := pin("0", nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGQUIT); _ = cmd.Wait() }()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			b.Fatalf("nginx did not listen: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rps := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	run := func() float64 {
		argv := pin("1", wrk, "-t1", "-c16", "-d2s", fmt.Sprintf("http://127.0.0.1:%d/", port))
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		m := rps.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk said:\n%s", out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	attached := func() float64 {
		ob, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer ob.Close()
		id, err := ob.Add(mount, cg)
		if err != nil {
			b.Fatal(err)
		}
		// Loading parsed the kernel's BTF (megabytes of garbage): collect
		// it now, not on nginx's or wrk's CPU during the run.
		runtime.GC()
		v := run()
		obs, _, err := ob.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if obs[id].Calls == 0 {
			b.Fatal("the program saw none of nginx's calls")
		}
		return v
	}
	// Whatever b.N: pairs of 2 s wrk runs, without and with the program,
	// in alternating order (ABBA: a drift of the neighbours' load
	// between the two runs of a pair counts against each side as often);
	// the ratio is per pair, then its median and spread.
	const pairs = 12
	var off, on, ratio []float64
	run() // warm-up: nginx's first requests, page cache
	for i := range pairs {
		var a, d float64
		if i%2 == 0 {
			d = run()
			a = attached()
		} else {
			a = attached()
			d = run()
		}
		off, on, ratio = append(off, d), append(on, a), append(ratio, a/d)
	}
	sort.Float64s(ratio)
	q1, q3 := ratio[len(ratio)/4], ratio[(3*len(ratio))/4]
	b.ReportMetric(median(off), "req/s-detached")
	b.ReportMetric(median(on), "req/s-attached")
	b.ReportMetric(median(ratio), "ratio")
	b.ReportMetric(q1, "ratio-q1")
	b.ReportMetric(q3, "ratio-q3")
	b.Logf("pinned (nginx CPU 0, wrk CPU 1): %v; detached %.0f, attached %.0f req/s; ratio per pair (attached/detached, sorted) %.3f: median %.3f, quartiles %.3f-%.3f, range %.3f-%.3f",
		pinned, off, on, ratio, median(ratio), q1, q3, ratio[0], ratio[len(ratio)-1])
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
