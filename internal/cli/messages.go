package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/seccompwatch/seccompwatch/auditstream"
	"github.com/seccompwatch/seccompwatch/suggest"
)

// message is the one line the user reads for err: the command's own words
// where it has them (usage errors, daemon answers), and for the errors of
// the packages below it what went wrong where, without their package
// prefixes ("cannot open adir: is a directory", not "auditstream: open
// adir: is a directory").
func message(err error) string {
	var ue usageError
	var pe *fs.PathError
	switch {
	case errors.As(err, &ue):
		return ue.msg
	case errors.As(err, &pe):
		return fmt.Sprintf("cannot %s %s: %s", pe.Op, pe.Path, cause(pe.Err))
	}
	// One line, whatever the error: joined errors carry newlines.
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// cause is the innermost error's text: an errno's "connection refused"
// rather than the chain of wrapping contexts above it.
func cause(err error) string {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if es := u.Unwrap(); len(es) > 0 {
				next = es[len(es)-1]
			}
		}
		if next == nil {
			if en, ok := err.(syscall.Errno); ok {
				return en.Error()
			}
			return err.Error()
		}
		err = next
	}
}

// lineMessage describes a skipped input line: where, and why.
func lineMessage(le *auditstream.LineError) string {
	why := cause(le.Err)
	var pe *auditstream.ParseError
	if errors.As(le.Err, &pe) {
		switch {
		case pe.Reason == auditstream.ReasonLineTooLong:
			why = fmt.Sprintf("line longer than %d bytes (%s)", auditstream.MaxLineLength, pe.Reason)
		case pe.Field != "":
			why = fmt.Sprintf("malformed SECCOMP record (%s: %s)", pe.Reason, pe.Field)
		default:
			why = fmt.Sprintf("malformed SECCOMP record (%s)", pe.Reason)
		}
	}
	return sanitizeLine(fmt.Sprintf("%s:%d: %s", le.File, le.Line, why))
}

// daemonError is a non-2xx answer of the daemon's API.
type daemonError struct {
	server string
	status int
	msg    string // the daemon's "error", or its body
}

func (e *daemonError) Error() string {
	return fmt.Sprintf("the daemon at %s answered: %s (HTTP %d)", e.server, e.msg, e.status)
}

// unreachable says that no daemon answered at server, and why. A TLS
// failure means something did answer: its hint names the option that
// fixes it, not "is the daemon running?".
func unreachable(server string, err error) error {
	if hint := tlsHint(err); hint != "" {
		return fmt.Errorf("cannot talk to the daemon at %s (%s): %s", server, sanitizeLine(cause(err)), hint)
	}
	why := cause(err)
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) && errors.As(err, &ne) && ne.Timeout() {
		why = "timed out"
	}
	return fmt.Errorf("cannot reach the daemon at %s (%s): is `seccompwatch run` running there? (set --server or %s)", server, sanitizeLine(why), serverEnv)
}

// tlsHint is what to do about a TLS failure of a client request, or "" when
// err is not one.
func tlsHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA):
		return "its certificate is not signed by a CA this client trusts: give the CA with --tls.ca-file"
	case errors.As(err, &host):
		return "its certificate is not for this host name: use a name the certificate holds in --server, or --tls.server-name"
	case errors.As(err, &invalid):
		return "its certificate is not valid (expired, not yet valid, or not for a server): renew it in the daemon's --web.config.file"
	case strings.HasSuffix(cause(err), "tls: certificate required"), strings.HasSuffix(cause(err), "tls: bad certificate"):
		// The server's alerts (RFC 8446, 6.2): over TCP, crypto/tls
		// gives them as an unexported type, so by their text.
		return "it asks for a client certificate this client did not give or it refused: give --tls.cert-file and --tls.key-file"
	case errors.As(err, &header), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "it does not speak TLS: use an http:// URL in --server"
	}
	return ""
}

// plainName sanitizes a user-given name for an error message.
func plainName(s string) string { return suggest.Sanitize(s, 128) }

// runError words the daemon's most common start-up failure, a missing
// capability, as one sentence that says what to grant; other errors pass.
func runError(err error, mode string) error {
	if !errors.Is(err, auditstream.ErrPermission) {
		return err
	}
	need := "CAP_AUDIT_READ"
	if mode == auditstream.ModeUnicast {
		need = "CAP_AUDIT_CONTROL"
	}
	return fmt.Errorf("cannot open the kernel's audit stream: --audit.mode=%s needs %s (run as root, or with AmbientCapabilities=%s as deploy/seccompwatch.service does)", mode, need, need)
}
