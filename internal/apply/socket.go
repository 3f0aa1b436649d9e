package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/suggest"
	"github.com/seccompwatch/seccompwatch/syscalls"
)

// DefaultSocket is where the shipped unit's daemon serves its API on a
// unix socket (RuntimeDirectory=seccompwatch, --web.unix-socket).
const DefaultSocket = "/run/seccompwatch/api.sock"

// ErrUntrusted: the socket, its directories or the process serving it could
// be controlled by someone other than root and the daemon's user.
var ErrUntrusted = errors.New("untrusted daemon socket")

// CheckSocketPath checks that only root, or the user owning the socket,
// can have made path what it is: path is a socket, owned by root or by the
// owner of its directory, and every directory up to / is owned by root (the
// socket's own directory may be owned by the socket's owner) and writable
// by nobody else, except sticky directories (/tmp), where others cannot
// replace an entry they do not own. It returns the socket's owner.
func CheckSocketPath(path string) (owner uint32, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrUntrusted, abs, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, fmt.Errorf("%w: %s is not a socket", ErrUntrusted, abs)
	}
	owner = st.Uid
	for dir, first := filepath.Dir(abs), true; ; dir, first = filepath.Dir(dir), false {
		var ds unix.Stat_t
		if err := unix.Lstat(dir, &ds); err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrUntrusted, dir, err)
		}
		if ds.Mode&unix.S_IFMT != unix.S_IFDIR {
			return 0, fmt.Errorf("%w: %s is not a directory", ErrUntrusted, dir)
		}
		if ds.Uid != 0 && !(first && ds.Uid == owner) {
			return 0, fmt.Errorf("%w: %s is owned by uid %d", ErrUntrusted, dir, ds.Uid)
		}
		if ds.Mode&0o022 != 0 && ds.Mode&unix.S_ISVTX == 0 {
			return 0, fmt.Errorf("%w: %s is writable by others (mode %o)", ErrUntrusted, dir, ds.Mode&0o7777)
		}
		if dir == "/" {
			break
		}
	}
	if owner != 0 && st.Mode&0o077 != 0 {
		return 0, fmt.Errorf("%w: %s has mode %o (want 0600)", ErrUntrusted, abs, st.Mode&0o777)
	}
	return owner, nil
}

// dialTrusted connects to the socket and checks with SO_PEERCRED that the
// process serving it runs as root or as the socket's owner.
func dialTrusted(ctx context.Context, path string, owner uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		c.Close()
		return nil, fmt.Errorf("%w: SO_PEERCRED: %v %v", ErrUntrusted, err, cerr)
	}
	if cred.Uid != 0 && cred.Uid != owner {
		c.Close()
		return nil, fmt.Errorf("%w: %s is served by pid %d, uid %d, neither root nor the socket's owner %d", ErrUntrusted, path, cred.Pid, cred.Uid, owner)
	}
	return c, nil
}

// Fetch asks the daemon on the unix socket at path for the JSON suggestion
// of unit (query: machine, allow, allow_risky), after CheckSocketPath, and
// with every connection's peer checked (dialTrusted).
func Fetch(ctx context.Context, path, unit string, q url.Values) ([]byte, error) {
	q.Set("format", "json")
	return fetchSuggestion(ctx, path, unit, q)
}

// FetchRecords reads a unit's aggregated records (no verdict) from the
// daemon on its unix socket, checked as Fetch checks it, and decodes
// them: the records of ref (a unit reference, user@UID.service/NAME for
// a user's unit), for a caller that reads the unit's configuration
// itself.
func FetchRecords(ctx context.Context, path, ref string) (suggest.UnitAggregate, error) {
	body, err := fetchSuggestion(ctx, path, ref, url.Values{"format": {"records"}})
	if err != nil {
		return suggest.UnitAggregate{}, err
	}
	var doc struct {
		Records *suggest.UnitAggregate `json:"records"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Records == nil {
		return suggest.UnitAggregate{}, fmt.Errorf("%w: the daemon's records of %s: %v", ErrInvalid, ref, err)
	}
	u := *doc.Records
	if unitname.Ref(u.Unit, u.UserUnit, u.UID) != ref || u.Machine != "" {
		return suggest.UnitAggregate{}, fmt.Errorf("%w: the daemon answered with the records of another unit", ErrInvalid)
	}
	for _, sc := range u.Syscalls {
		if sc.Syscall != "unknown" && !syscalls.Known(sc.Syscall) {
			return suggest.UnitAggregate{}, fmt.Errorf("%w: a record names %s, no system call", ErrInvalid, shown(sc.Syscall))
		}
	}
	return u, nil
}

func fetchSuggestion(ctx context.Context, path, unit string, q url.Values) ([]byte, error) {
	client, err := trustedClient(path, 30*time.Second)
	if err != nil {
		return nil, err
	}
	u := "http://seccompwatch/api/v1/suggestions/" + url.PathEscape(unit) + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	body, resp, err := roundTrip(client, req, path)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: the daemon has recorded no denials of %s", ErrNotFound, unit)
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("daemon: %s: %s", resp.Status, shown(strings.TrimSpace(string(body))))
	}
	return body, nil
}

// roundTrip sends req to the daemon on the unix socket at path and reads
// its answer (bounded by maxDocument); a missing or refusing socket says
// the daemon is not running.
func roundTrip(client *http.Client, req *http.Request, path string) ([]byte, *http.Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, ErrUntrusted) {
			return nil, nil, err
		}
		var se syscall.Errno
		if errors.As(err, &se) && (se == syscall.ENOENT || se == syscall.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("no daemon on %s (is seccompwatch.service running?): %w", path, err)
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, nil, err
	}
	return body, resp, nil
}

// trustedClient returns an HTTP client whose every connection goes to the
// unix socket at path, after CheckSocketPath, with its peer checked
// (dialTrusted); timeout 0 is none.
func trustedClient(path string, timeout time.Duration) (*http.Client, error) {
	owner, err := CheckSocketPath(path)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialTrusted(ctx, path, owner)
			},
			DisableKeepAlives: true,
		},
	}, nil
}

// Learn asks the daemon on the unix socket at path (checked as Fetch
// does) to learn unit (query: for, cgroup) and returns its JSON answer.
// It waits as long as the learn takes: cancelling ctx closes the
// connection, and the daemon then ends the learn and frees its program.
func Learn(ctx context.Context, path, unit string, q url.Values) ([]byte, error) {
	client, err := trustedClient(path, 0)
	if err != nil {
		return nil, err
	}
	u := "http://seccompwatch/api/v1/learn/" + url.PathEscape(unit) + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	body, resp, err := roundTrip(client, req, path)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("daemon: %s: %s", resp.Status, shown(strings.TrimSpace(string(body))))
	}
	return body, nil
}
