// Command genlog writes a realistic audit.log for benchmarks: N lines
// (default 1,000,000), about 10% SECCOMP records, with increasing serials
// and times, in one of two shapes:
//
//   - events (default): the rest SYSCALL/CWD/PATH/PROCTITLE events as
//     auditd writes them on a host with audit rules;
//
//   - standalone: a host without audit rules, as auditd writes it with
//     log_format=ENRICHED: one-line records only (USER_ACCT, USER_START,
//     CRED_ACQ, USER_END, CRED_DISP, SERVICE_START, SERVICE_STOP,
//     ANOM_ABEND, SECCOMP), each with the 0x1d-separated tail of names.
//
//     The SECCOMP records come from -binaries distinct
//
// binaries (default 400: five named ones and generated ones, a few with a
// space in comm or exe, which the kernel hex-encodes, some i386), picked
// uniformly, so that a parser's cache of recent strings rarely helps. Output
// is deterministic for a seed.
//
// Usage:
//
//	go run ./bench/genlog [-n 1000000] [-shape events|standalone] [-binaries 400] [-seed 1] [-o FILE]
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
	shape := flag.String("shape", "events", "events (SYSCALL/CWD/PATH/PROCTITLE beside SECCOMP) or standalone (one-line ENRICHED records)")
	flag.Parse()
	gen := generate
	switch *shape {
	case "events":
	case "standalone":
		gen = generateStandalone
	default:
		fmt.Fprintln(os.Stderr, "genlog: -shape must be events or standalone")
		os.Exit(2)
	}
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
	if err := gen(bw, *n, *binaries, *seed); err != nil {
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

// names of the syscalls the generated SECCOMP records deny, per arch, for
// the ENRICHED tail's SYSCALL= field (auditd names them at write time).
var names = map[string]map[int]string{
	"c000003e": {41: "socket", 56: "clone", 101: "ptrace", 165: "mount", 221: "fadvise64", 288: "accept4", 293: "pipe2", 318: "getrandom", 435: "clone3", 1073741867: "accept"},
	"40000003": {5: "open", 102: "socketcall", 120: "clone", 295: "openat"},
}

// archNames are the ENRICHED tail's ARCH= values.
var archNames = map[string]string{"c000003e": "x86_64", "40000003": "i386"}

// user returns the ENRICHED tail's name of a uid.
func user(uid int) string {
	switch {
	case uid == 0:
		return "root"
	case uid == 4294967295:
		return "unset"
	case uid == 1000:
		return "alice"
	case uid == 33:
		return "www-data"
	case uid == 106:
		return "postgres"
	}
	return fmt.Sprintf("user%d", uid)
}

// pam is one PAM session as auditd logs it: five records, the same pid.
var pam = []string{"USER_ACCT", "CRED_ACQ", "USER_START", "USER_END", "CRED_DISP"}

// pamOps are the op= of each record of pam.
var pamOps = []string{"PAM:accounting", "PAM:setcred", "PAM:session_open", "PAM:session_close", "PAM:setcred"}

var services = []string{"logrotate", "man-db", "apt-daily", "systemd-tmpfiles-clean", "phpsessionclean", "fstrim", "user@1000", "session-3.scope"}

// generateStandalone writes n lines of one-line ENRICHED records: PAM
// sessions of cron and sshd, systemd's SERVICE_START/STOP, now and then an
// ANOM_ABEND, and SECCOMP records (about 10% of lines).
func generateStandalone(w io.Writer, n, binaries int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ds := makeDeniers(binaries, rng)
	serial := 1000
	ms := int64(1763712000000) // 2025-11-21T08:00:00Z
	bw := bufio.NewWriter(w)
	for lines := 0; lines < n; lines++ {
		serial++
		ms += int64(rng.IntN(7))
		ts := fmt.Sprintf("%d.%03d:%d", ms/1000, ms%1000, serial)
		pid := 1000 + rng.IntN(30000)
		var err error
		switch r := rng.IntN(100); {
		case r < 10:
			d := ds[rng.IntN(len(ds))]
			code := codes[rng.IntN(len(codes))]
			sig := 0
			if code == "0x80000000" || code == "0x0" {
				sig = 31
			}
			nr := d.nrs[rng.IntN(len(d.nrs))]
			name := names[d.arch][nr]
			if name == "" {
				name = fmt.Sprint(nr)
			}
			_, err = fmt.Fprintf(bw, "type=SECCOMP msg=audit(%s): auid=4294967295 uid=%d gid=%d ses=4294967295 subj=unconfined pid=%d comm=%s exe=%s sig=%d arch=%s syscall=%d compat=%d ip=0x7f%010x code=%s\x1dAUID=\"unset\" UID=\"%s\" GID=\"%s\" ARCH=%s SYSCALL=%s\n",
				ts, d.uid, d.uid, pid, untrusted(d.comm), untrusted(d.exe), sig, d.arch, nr, d.compat, rng.Uint64()&0xffffffffff, code, user(d.uid), user(d.uid), archNames[d.arch], name)
		case r < 11:
			d := ds[rng.IntN(len(ds))]
			_, err = fmt.Fprintf(bw, "type=ANOM_ABEND msg=audit(%s): auid=4294967295 uid=%d gid=%d ses=4294967295 subj=unconfined pid=%d comm=%s exe=%s sig=6 res=1\x1dAUID=\"unset\" UID=\"%s\" GID=\"%s\"\n",
				ts, d.uid, d.uid, pid, untrusted(d.comm), untrusted(d.exe), user(d.uid), user(d.uid))
		case r < 31:
			unit := services[rng.IntN(len(services))]
			typ := "SERVICE_START"
			if rng.IntN(2) == 0 {
				typ = "SERVICE_STOP"
			}
			_, err = fmt.Fprintf(bw, "type=%s msg=audit(%s): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='unit=%s comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? res=success'\x1dUID=\"root\" AUID=\"unset\"\n",
				typ, ts, unit)
		default:
			// one record of a PAM session: cron's as root, or sshd's for a user
			k := rng.IntN(len(pam))
			exe, term, acct, auid, ses := "/usr/sbin/cron", "cron", "root", 0, 100+rng.IntN(900)
			addr, host := "?", "?"
			if rng.IntN(3) == 0 {
				exe, term, acct, auid = "/usr/sbin/sshd", "ssh", "alice", 1000
				addr, host = fmt.Sprintf("192.0.2.%d", 1+rng.IntN(254)), addr
			}
			_, err = fmt.Fprintf(bw, "type=%s msg=audit(%s): pid=%d uid=0 auid=%d ses=%d subj=unconfined msg='op=%s grantors=pam_permit,pam_unix acct=\"%s\" exe=\"%s\" hostname=%s addr=%s terminal=%s res=success'\x1dUID=\"root\" AUID=\"%s\"\n",
				pam[k], ts, pid, auid, ses, pamOps[k], acct, exe, host, addr, term, user(auid))
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
