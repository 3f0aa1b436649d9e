// Command genlog writes a realistic audit.log for benchmarks: N lines
// (default 1,000,000), about 10% SECCOMP records, the rest
// SYSCALL/CWD/PATH/PROCTITLE events as auditd writes them, with increasing
// serials and times. The SECCOMP records come from -binaries distinct
// binaries (default 400: five named ones and generated ones, a few with a
// space in comm or exe, which the kernel hex-encodes, some i386), picked
// uniformly, so that a parser's cache of recent strings rarely helps. Output
// is deterministic for a seed.
//
// Usage:
//
//	go run ./bench/genlog [-n 1000000] [-binaries 400] [-seed 1] [-o FILE]
package main

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
)

type denier struct {
	comm, exe string
	uid       int
	arch      string
	compat    int
	nrs       []int
}

var deniers = []denier{
	{"nginx", "/usr/sbin/nginx", 33, "c000003e", 0, []int{288, 56, 41, 165}},
	{"python3.11", "/usr/bin/python3.11", 1001, "c000003e", 0, []int{41, 101, 435, 1073741867}},
	{"postgres", "/usr/lib/postgresql/15/bin/postgres", 106, "c000003e", 0, []int{293, 221, 318}},
	{"pg_dump", "/usr/lib/postgresql/15/bin/pg_dump", 106, "40000003", 1, []int{5, 102, 120}},
	{"systemd-journal", "/usr/lib/systemd/systemd-journald", 0, "c000003e", 0, []int{435}},
}

var codes = []string{"0x80000000", "0x50000", "0x7ffc0000", "0x0", "0x30000"}

var noise = []struct{ comm, exe, path, title string }{
	{"sshd", "/usr/sbin/sshd", "/etc/ssh/sshd_config", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"},
	{"cron", "/usr/sbin/cron", "/etc/crontab", "/usr/sbin/cron -f"},
	{"bash", "/usr/bin/bash", "/home/alice/.bashrc", "-bash"},
	{"nginx", "/usr/sbin/nginx", "/var/www/html/index.html", "nginx: worker process"},
}

func main() {
	n := flag.Int("n", 1000000, "number of lines")
	binaries := flag.Int("binaries", 400, "number of distinct denied binaries (comm/exe pairs), at least 1")
	seed := flag.Uint64("seed", 1, "random seed")
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()
	var w io.Writer = os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if *binaries < 1 {
		fmt.Fprintln(os.Stderr, "genlog: -binaries must be at least 1")
		os.Exit(2)
	}
	if err := generate(bw, *n, *binaries, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
}

// generate writes n lines; a SECCOMP record is one line, a noise event four
// (SYSCALL, CWD, PATH, PROCTITLE). About 10% of lines are SECCOMP.
func generate(w io.Writer, n, binaries int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ds := makeDeniers(binaries, rng)
	serial := 1000
	ms := int64(1763712000000) // 2025-11-21T08:00:00Z
	titles := make([]string, len(noise))
	for i, x := range noise {
		titles[i] = hex.EncodeToString([]byte(x.title))
	}
	for lines := 0; lines < n; {
		serial++
		ms += int64(rng.IntN(7))
		ts := fmt.Sprintf("%d.%03d:%d", ms/1000, ms%1000, serial)
		pid := 1000 + rng.IntN(30000)
		if rng.IntN(10) < 3 { // 3 of 10 events are SECCOMP: ~10% of lines
			d := ds[rng.IntN(len(ds))]
			code := codes[rng.IntN(len(codes))]
			sig := 0
			if code == "0x80000000" || code == "0x0" {
				sig = 31
			}
			if _, err := fmt.Fprintf(w, "type=SECCOMP msg=audit(%s): auid=4294967295 uid=%d gid=%d ses=4294967295 subj=unconfined pid=%d comm=%s exe=%s sig=%d arch=%s syscall=%d compat=%d ip=0x7f%010x code=%s\n",
				ts, d.uid, d.uid, pid, untrusted(d.comm), untrusted(d.exe), sig, d.arch, d.nrs[rng.IntN(len(d.nrs))], d.compat, rng.Uint64()&0xffffffffff, code); err != nil {
				return err
			}
			lines++
			continue
		}
		k := rng.IntN(len(noise))
		x := noise[k]
		_, err := fmt.Fprintf(w, "type=SYSCALL msg=audit(%s): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd%08x a2=80000 a3=0 items=1 ppid=1 pid=%d auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm=\"%s\" exe=\"%s\" subj=unconfined key=\"config-read\"\n"+
			"type=CWD msg=audit(%s): cwd=\"/\"\n"+
			"type=PATH msg=audit(%s): item=0 name=\"%s\" inode=%d dev=fd:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n"+
			"type=PROCTITLE msg=audit(%s): proctitle=%s\n",
			ts, rng.Uint32(), pid, x.comm, x.exe, ts, ts, x.path, 1000000+rng.IntN(900000), ts, titles[k])
		if err != nil {
			return err
		}
		lines += 4
	}
	return nil
}

// words make up generated binaries' names.
var words = []string{"api", "worker", "sync", "agent", "proxy", "cache", "queue", "index", "backup", "export", "metrics", "mail", "auth", "render", "scan", "feed"}

// makeDeniers returns n binaries: the named ones first, then generated
// ones (one in 16 with a space in its name, one in 12 an i386 binary).
func makeDeniers(n int, rng *rand.Rand) []denier {
	out := make([]denier, 0, n)
	out = append(out, deniers[:min(n, len(deniers))]...)
	for i := len(out); i < n; i++ {
		name := fmt.Sprintf("%s-%s%d", words[i%len(words)], words[(i/len(words))%len(words)], i)
		dir := "/usr/lib/" + words[(i*7)%len(words)]
		if i%16 == 5 {
			name = words[i%len(words)] + " helper" + fmt.Sprint(i)
			dir = "/opt/My Apps"
		}
		d := denier{comm: name, exe: dir + "/bin/" + name, uid: 1000 + i%50, arch: "c000003e"}
		if len(d.comm) > 15 {
			d.comm = d.comm[:15] // TASK_COMM_LEN
		}
		if i%12 == 7 {
			d.arch, d.compat, d.nrs = "40000003", 1, []int{5, 102, 120, 295}
		} else {
			d.nrs = []int{41, 101, 165, 288, 56, 435, 293, 221}[rng.IntN(4):][:4]
		}
		out = append(out, d)
	}
	return out
}

// untrusted encodes comm or exe as the kernel's audit_log_untrustedstring
// does: quoted, or hex when it holds a quote, a space or a control byte.
func untrusted(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c < 0x21 || c > 0x7e {
			return fmt.Sprintf("%X", s)
		}
	}
	return `"` + s + `"`
}
