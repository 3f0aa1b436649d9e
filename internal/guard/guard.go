// Package guard runs the program's last-resort clean-up when a goroutine
// panics. A panic ends the process without running the deferred calls of
// any other goroutine, so the clean-up that matters to the host (putting
// the kernel audit state back) cannot live only in Run's defers: every
// goroutine the program starts defers Recover (or is started by Go), which
// runs the registered hooks and then lets the panic go on.
//
// What no Go code can cover (SIGKILL, the OOM killer, a fatal runtime error,
// SIGABRT from the service manager's watchdog) is left to the persisted
// audit state that the next start or `seccompwatch audit-restore` restores.
package guard

import (
	"os"
	"runtime/debug"
	"sync"
)

var (
	mu    sync.Mutex
	next  int
	hooks = map[int]func(){}
)

// OnPanic registers f to run when a guarded goroutine panics, before the
// panic ends the process. f must be safe to call more than once and from
// any goroutine. The returned function unregisters it.
func OnPanic(f func()) (remove func()) {
	mu.Lock()
	defer mu.Unlock()
	id := next
	next++
	hooks[id] = f
	return func() {
		mu.Lock()
		delete(hooks, id)
		mu.Unlock()
	}
}

// Recover, deferred first thing in a goroutine, runs the OnPanic hooks when
// that goroutine panics and then panics again with the same value, so the
// program still dies with the original message and stack.
func Recover() {
	if r := recover(); r != nil {
		runHooks()
		panic(r)
	}
}

// Go runs f in a new goroutine with Recover deferred.
func Go(f func()) {
	go func() {
		defer Recover()
		f()
	}()
}

// runHooks calls every hook; one that panics does not stop the others.
func runHooks() {
	mu.Lock()
	fs := make([]func(), 0, len(hooks))
	for _, f := range hooks {
		fs = append(fs, f)
	}
	mu.Unlock()
	for _, f := range fs {
		func() {
			defer func() { _ = recover() }()
			f()
		}()
	}
}

// failpoint is $SECCOMPWATCH_FAILPOINT, read once.
var failpoint = os.Getenv("SECCOMPWATCH_FAILPOINT")

// Failpoint panics when $SECCOMPWATCH_FAILPOINT equals name. The exit-path
// tests set it to make one goroutine of the real program panic (e.g.
// "panic-in-status-poller"); unset, it costs a string comparison.
func Failpoint(name string) {
	if failpoint != "" && failpoint == name {
		panic("failpoint " + name)
	}
}

// failpointExe is $SECCOMPWATCH_FAILPOINT_EXE, read once.
var failpointExe = os.Getenv("SECCOMPWATCH_FAILPOINT_EXE")

// RecordFailpoint reports whether a failpoint that fires at a record
// (panic-on-record, fatal-on-record, stall-on-record) may fire at a record
// of exe: always, unless $SECCOMPWATCH_FAILPOINT_EXE names another binary.
// A test sets it to its own helper's binary, so that another process's
// denial on a busy host does not fire the failpoint before the test is
// ready for it.
func RecordFailpoint(exe string) bool {
	return failpoint != "" && (failpointExe == "" || exe == failpointExe)
}

// FailpointSet reports whether $SECCOMPWATCH_FAILPOINT equals name, for a
// failpoint that does something else than panic (e.g. "stall-on-record",
// which blocks the pipeline so that the watchdog fires).
func FailpointSet(name string) bool { return failpoint != "" && failpoint == name }

// FatalFailpoint ends the process with a fatal runtime error (a stack
// overflow: like a concurrent map write, nothing recovers it and no
// deferred call runs) when $SECCOMPWATCH_FAILPOINT equals name.
func FatalFailpoint(name string) {
	if failpoint != "" && failpoint == name {
		debug.SetMaxStack(1 << 20)
		overflow(0)
	}
}

// overflow recurses until the stack limit ends the process; the depth
// check (never true in practice) keeps it from being a provably infinite
// recursion.
func overflow(n int) int {
	var pad [512]byte
	pad[n%len(pad)] = byte(n)
	if n < 0 {
		return int(pad[0])
	}
	return overflow(n+1) + int(pad[0])
}
