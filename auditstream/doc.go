// Package auditstream reads SECCOMP audit records: live from the kernel's
// audit netlink socket (multicast or unicast, via go-libaudit) and replayed
// from files in every shape operators have (audit.log, ausearch --raw and -i,
// kernel log text, journalctl's text output of the records journald stored,
// journal viewers' COMM: lines, journalctl -o json / -o export).
//
// Its output is Record, a typed value independent of the source. Parsing is
// pure and allocation-light; malformed input is counted by reason and never
// becomes a record.
//
// A process controls its comm and exe, and `ausearch -i` prints both
// unquoted, so a record is read in the kernel's field order (auid uid gid
// ses subj pid comm exe sig arch syscall compat ip code) and whatever could
// be a forgery or a guess is malformed, never read: a key given twice, a
// broken quote (raw shapes), a second " exe=" in ausearch -i, a journal
// field given twice, a journal text tag that is neither audit nor the
// record's own comm, an ausearch -i comm or exe holding auparse's \ooo
// escape (a backslash prints as itself), and a syscall name ausearch took
// from its own host's table because it did not know the record's machine.
package auditstream
