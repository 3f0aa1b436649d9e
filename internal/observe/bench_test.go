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
// (alternating rounds, medians; req/s and the ratio are reported).
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
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
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
		out, err := exec.Command(wrk, "-t1", "-c16", "-d3s", fmt.Sprintf("http://127.0.0.1:%d/", port)).CombinedOutput()
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
	var off, on []float64
	var calls uint64
	var procs int
	// Whatever b.N: five rounds of each, 3 s of wrk per run.
	for range 5 {
		off = append(off, run())
		ob, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		id, err := ob.Add(mount, cg)
		if err != nil {
			ob.Close()
			b.Fatal(err)
		}
		on = append(on, run())
		obs, _, err := ob.Snapshot()
		ob.Close()
		if err != nil {
			b.Fatal(err)
		}
		calls, procs = obs[id].Calls, obs[id].Processes
		if calls == 0 {
			b.Fatal("the program saw none of nginx's calls")
		}
	}
	b.ReportMetric(median(off), "req/s-detached")
	b.ReportMetric(median(on), "req/s-attached")
	b.ReportMetric(median(on)/median(off), "ratio")
	b.Logf("detached %v, attached %v req/s; last attached round saw %d calls from %d processes", off, on, calls, procs)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
