package auditstream

// Names `ausearch -i` prints instead of numbers (auparse's signaltab.h and
// seccomptab.h, every version since 2012), mapped back.

// signalNames are the names of signals 0..31 as auparse prints them; 30 is
// spelled "IGPWR" in auparse's table (sic), "SIGPWR" accepted too.
var signalNames = [...]string{
	"SIG0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
	"SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
	"SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
	"SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
}

// signalNumber maps an interpreted sig= value back to its number:
// "SIGSYS", "IGPWR", "unknown-signal(33)" or "unknown-signal(0x21)".
func signalNumber(v []byte) (uint64, bool) {
	if string(v) == "IGPWR" {
		return 30, true
	}
	for i, n := range signalNames {
		if string(v) == n {
			return uint64(i), true
		}
	}
	if inner, ok := unwrap(v, "unknown-signal("); ok {
		if hasHexPrefix(inner) {
			return parseHex(inner)
		}
		return parseDec(inner)
	}
	return 0, false
}

// actionByName maps an interpreted code= value to an action. auparse before
// 3.1.2 masked the code with 0x7fff0000 and printed "kill" for both
// kill_process and kill_thread: that stays ActionKill (ambiguous). Later
// versions print "kill-process" and "kill-thread". "unknown-seccomp-code(X)"
// carries the raw hex value, which is decoded (code is then non-zero).
func actionByName(v []byte) (Action, uint32, bool) {
	switch string(v) {
	case "kill":
		return ActionKill, 0, true
	case "kill-process", "kill_process":
		return ActionKillProcess, 0, true
	case "kill-thread", "kill_thread":
		return ActionKillThread, 0, true
	case "trap":
		return ActionTrap, 0, true
	case "errno":
		return ActionErrno, 0, true
	case "user-notify", "user_notif", "user-notif":
		return ActionUserNotif, 0, true
	case "trace":
		return ActionTrace, 0, true
	case "log":
		return ActionLog, 0, true
	case "allow":
		return ActionAllow, 0, true
	}
	if inner, ok := unwrap(v, "unknown-seccomp-code("); ok {
		c, ok := parseHex(inner)
		if !ok || c > 0xffffffff {
			return ActionUnknown, 0, false
		}
		a, _ := DecodeCode(uint32(c))
		return a, uint32(c), true
	}
	return ActionUnknown, 0, false
}

// unwrap returns X from "prefixX)".
func unwrap(v []byte, prefix string) ([]byte, bool) {
	if len(v) <= len(prefix) || string(v[:len(prefix)]) != prefix || v[len(v)-1] != ')' {
		return nil, false
	}
	return v[len(prefix) : len(v)-1], true
}
