package auditstream

import (
	"strconv"
	"time"

	"github.com/seccompwatch/seccompwatch/syscalls"
)

// Action is the seccomp action a SECCOMP record reports, decoded from its
// code= field (SECCOMP_RET_ACTION_FULL).
type Action uint8

// The seccomp actions. ActionKill is what `ausearch -i` prints for both
// kill_thread and kill_process: ambiguous, never guessed.
const (
	ActionUnknown Action = iota
	ActionKillProcess
	ActionKillThread
	ActionKill
	ActionTrap
	ActionErrno
	ActionUserNotif
	ActionTrace
	ActionLog
	ActionAllow
)

var actionNames = [...]string{
	ActionUnknown:     "unknown",
	ActionKillProcess: "kill_process",
	ActionKillThread:  "kill_thread",
	ActionKill:        "kill",
	ActionTrap:        "trap",
	ActionErrno:       "errno",
	ActionUserNotif:   "user_notif",
	ActionTrace:       "trace",
	ActionLog:         "log",
	ActionAllow:       "allow",
}

// String returns the record schema's name of the action, e.g. "kill_process".
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Denies reports whether the action stops the call (everything but log and
// allow).
func (a Action) Denies() bool {
	return a != ActionLog && a != ActionAllow && a != ActionUnknown
}

// SECCOMP_RET_* action values (linux/seccomp.h), compared against
// code & SECCOMP_RET_ACTION_FULL.
const (
	retKillProcess uint32 = 0x80000000
	retKillThread  uint32 = 0x00000000
	retTrap        uint32 = 0x00030000
	retErrno       uint32 = 0x00050000
	retUserNotif   uint32 = 0x7fc00000
	retTrace       uint32 = 0x7ff00000
	retLog         uint32 = 0x7ffc0000
	retAllow       uint32 = 0x7fff0000
	retActionFull  uint32 = 0xffff0000
	retData        uint32 = 0x0000ffff
)

// DecodeCode splits a SECCOMP record's code= value into its action and data
// (the errno for errno actions; the kernel logs 0, other sources may not).
func DecodeCode(code uint32) (Action, int) {
	data := int(code & retData)
	switch code & retActionFull {
	case retKillProcess:
		return ActionKillProcess, 0
	case retKillThread:
		return ActionKillThread, 0
	case retTrap:
		return ActionTrap, 0
	case retErrno:
		return ActionErrno, data
	case retUserNotif:
		return ActionUserNotif, 0
	case retTrace:
		return ActionTrace, 0
	case retLog:
		return ActionLog, 0
	case retAllow:
		return ActionAllow, 0
	}
	return ActionUnknown, 0
}

// UnsetID is the value of an unset auid or ses ((uid_t)-1).
const UnsetID = 4294967295

// ID is a user, group, audit user or session id. Raw records carry numbers;
// `ausearch -i` output carries only names, which are kept as given.
type ID struct {
	N    uint32 // the number, when Name is empty
	Name string // the name, when the input had only a name
}

// String returns the number in decimal, or the name.
func (id ID) String() string {
	if id.Name != "" {
		return id.Name
	}
	return strconv.FormatUint(uint64(id.N), 10)
}

// Record is one SECCOMP (type 1326) audit record, decoded. Fields a source
// does not carry keep their zero value and the matching Has* flag is false.
type Record struct {
	// File and Line say where a replayed record starts (Line is 1-based);
	// both are zero for live records.
	File string
	Line int

	// Node is the host the record came from, as a central log forwarded
	// by audisp-remote or a syslog plugin names it ("node=NAME" before
	// "type="); "" when the line names none (a local record).
	Node string

	Time      time.Time // millisecond precision, UTC; zero when absent
	Serial    uint64
	HasSerial bool

	PID  int
	UID  ID
	AUID ID
	GID  ID
	Ses  ID

	Comm       string // hex-decoded
	Exe        string // hex-decoded; "" with ExeUnknown for "(null)"
	ExeUnknown bool

	AuditArch uint32        // raw arch= value (AUDIT_ARCH_*); 0 when the input had only a name
	Arch      syscalls.Arch // the ABI, x32 included
	Syscall   int           // as logged: an x32 number keeps its 0x40000000 bit
	SyscallNm string        // name when the input gave one (ausearch -i), else ""
	Compat    bool
	Signal    int
	IP        uint64
	Code      uint32 // raw code= value; 0 with Action set when the input had a name
	Action    Action
	Errno     int
}
