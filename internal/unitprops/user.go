package unitprops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// UserManagerSocket is the private socket of user uid's service manager
// (user@UID.service): peer to peer, no bus daemon; systemd answers there
// only root and uid itself.
func UserManagerSocket(uid int) string {
	return userRuntimeDir + "/" + strconv.Itoa(uid) + "/systemd/private"
}

// userRuntimeDir holds the users' runtime directories (tests move it).
var userRuntimeDir = "/run/user"

// UserManagerAddress is UserManagerSocket as a D-Bus address.
func UserManagerAddress(uid int) string { return "unix:path=" + UserManagerSocket(uid) }

// CheckUserManager says why this process cannot ask user uid's manager
// (nil: its socket is there and the process is root or uid). The reason
// is for a verdict "unknown", so it names what is missing.
func CheckUserManager(uid int) error {
	if uid < 0 {
		return fmt.Errorf("unitprops: invalid uid %d", uid)
	}
	sock := UserManagerSocket(uid)
	me := os.Geteuid()
	_, err := os.Stat(sock)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("user %d's service manager cannot be asked from uid %d: its socket %s is in the user's own runtime directory (and ProtectHome= hides /run/user); only root or uid %d can ask it, e.g. sudo seccompwatch why or apply user@%d.service/NAME",
			uid, me, sock, uid, uid)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("user %d's service manager is not running (no %s)", uid, sock)
	case err != nil:
		return fmt.Errorf("user %d's service manager: %w", uid, err)
	case me != 0 && me != uid:
		return fmt.Errorf("user %d's service manager answers only root and uid %d on %s, and this process runs as uid %d", uid, uid, sock, me)
	}
	return nil
}

// NewUserDBus returns a provider that reads the units of user uid's
// service manager over its private socket (opts.Address, User and Peer
// are set here). Its unit files and drop-ins are read without following
// symbolic links.
func NewUserDBus(uid int, opts DBusOptions) *DBus {
	opts.Address = UserManagerAddress(uid)
	opts.User, opts.Peer = true, true
	if opts.ManagerPID == 0 {
		opts.ManagerPID = -1
	}
	return NewDBus(opts)
}

// DialUserManager connects to user uid's service manager on its private
// socket, for callers that change its state (reload, restart).
func DialUserManager(ctx context.Context, uid int) (*sdbus.Conn, error) {
	if err := CheckUserManager(uid); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDBus, err)
	}
	address := UserManagerAddress(uid)
	conn, err := sdbus.NewConnection(func() (*dbus.Conn, error) { return dialAuth(ctx, address, true) })
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %w", ErrNoDBus, address, err)
	}
	return conn, nil
}

// OpenNoFollow opens path for reading without following a symbolic link
// in any of its components (openat2 RESOLVE_NO_SYMLINKS; ELOOP when one
// is there), so that a root process reading a file whose path a user
// controls reads nothing that user could not.
func OpenNoFollow(path string) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// maxUserManagers bounds the user managers whose connections are kept.
const maxUserManagers = 64

// UserManagers reads the units of users' service managers: one DBus
// provider per uid (NewUserDBus), made when first asked, at most
// maxUserManagers kept. It is safe for concurrent use.
type UserManagers struct {
	opts DBusOptions

	mu    sync.Mutex
	byUID map[int]*DBus
}

// NewUserManagers returns user manager readers with these options (their
// Address, User and Peer are set per uid).
func NewUserManagers(opts DBusOptions) *UserManagers {
	return &UserManagers{opts: opts, byUID: map[int]*DBus{}}
}

// ForUser returns the provider of user uid's manager, or why this process
// cannot ask it (CheckUserManager).
func (u *UserManagers) ForUser(uid int) (Provider, error) {
	if err := CheckUserManager(uid); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if d := u.byUID[uid]; d != nil {
		return d, nil
	}
	if len(u.byUID) >= maxUserManagers {
		for n, d := range u.byUID { // any one: a bound, not a cache policy
			_ = d.Close()
			delete(u.byUID, n)
			break
		}
	}
	opts := u.opts
	if opts.Logger != nil {
		opts.Logger = opts.Logger.With(zap.Int("uid", uid))
	}
	d := NewUserDBus(uid, opts)
	u.byUID[uid] = d
	return d, nil
}

// Close releases every user manager's connections.
func (u *UserManagers) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for n, d := range u.byUID {
		_ = d.Close()
		delete(u.byUID, n)
	}
}

// Prefetch connects to user uid's manager and reads unit's properties
// into the cache now, bounded by ctx rather than by the per-look-up
// timeout of a later Props (a command's first contact with a manager
// under load may take longer than that); a failure is kept and reported
// by the later Props as usual.
func (u *UserManagers) Prefetch(ctx context.Context, uid int, unit string) error {
	p, err := u.ForUser(uid)
	if err != nil {
		return err
	}
	_, err = p.Props(ctx, unit)
	return err
}
