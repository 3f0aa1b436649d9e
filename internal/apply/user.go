package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/suggest"
)

// A user unit's drop-in lives in a directory its user controls: a root
// process that wrote there would follow that user's symbolic links (to
// /etc/shadow, say). So every read, write and removal below a user's home
// is done by a child process with the user's credentials (uid, gid,
// supplementary groups, no capabilities): it can reach only what the user
// can, and what it creates is the user's.

// AsUserCommand is the first argument that makes the seccompwatch binary
// the child of a user file operation (RunAsUserChild); Main checks it
// before parsing the command line.
const AsUserCommand = "__apply-as-user"

// UserPath returns where apply writes a unit's drop-in for its user alone:
// HOME/.config/systemd/user/UNIT.d/50-seccompwatch.conf. The unit name is
// validated.
func UserPath(home, unit string) (string, error) {
	if err := unitname.Validate(unit, unitname.Any); err != nil {
		return "", err
	}
	if !filepath.IsAbs(home) || filepath.Clean(home) == "/" {
		return "", fmt.Errorf("home directory %q is not an absolute directory of its own", home)
	}
	return filepath.Join(home, ".config/systemd/user", unit+".d", suggest.DropinName), nil
}

// User is whom a user file operation runs as.
type User struct {
	UID, GID int
	Groups   []uint32
	Home     string
	// Exe is the binary run as the child (default: /proc/self/exe).
	Exe string
}

// LookupUser finds uid's primary group, supplementary groups and home.
func LookupUser(uid int) (User, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return User{}, fmt.Errorf("user %d: group %q: %w", uid, u.Gid, err)
	}
	out := User{UID: uid, GID: gid, Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		return User{}, fmt.Errorf("user %d: groups: %w", uid, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			out.Groups = append(out.Groups, uint32(n))
		}
	}
	return out, nil
}

// userReply is the child's answer, one JSON document on its stdout.
type userReply struct {
	Exists     bool   `json:"exists,omitempty"`
	Content    string `json:"content,omitempty"`
	DirExists  bool   `json:"dir_exists,omitempty"`
	CreatedDir bool   `json:"created_dir,omitempty"`
	Removed    bool   `json:"removed,omitempty"`
	NotOurs    bool   `json:"not_ours,omitempty"`
	Error      string `json:"error,omitempty"`
}

// run runs one operation as u: the child gets args after AsUserCommand
// and stdin, a clean environment, and no capabilities (a uid other than 0
// after execve keeps none).
func (u User) run(stdin string, args ...string) (userReply, error) {
	exe := u.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command(exe, append([]string{AsUserCommand}, args...)...)
	cmd.Env = []string{"HOME=" + u.Home, "PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: u.Groups},
		Setsid:     true,
	}
	err := cmd.Run()
	var r userReply
	if jerr := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); jerr != nil {
		if err == nil {
			err = jerr
		}
		return r, fmt.Errorf("as uid %d: %w %s", u.UID, err, shown(errb.String()))
	}
	if r.Error != "" {
		return r, fmt.Errorf("as uid %d: %s", u.UID, suggest.Sanitize(r.Error, 400))
	}
	return r, nil
}

// ReadAs reads the file at path as u: its content (at most 1 MiB), whether
// it exists, and whether its directory does.
func (u User) ReadAs(path string) (content string, exists, dirExists bool, err error) {
	r, err := u.run("", "read", path)
	return r.Content, r.Exists, r.DirExists, err
}

// WriteAs writes content to path as u, atomically, mode 0644 (Write),
// creating the directories it needs as u; it reports whether it created
// path's directory.
func (u User) WriteAs(path, content string) (createdDir bool, err error) {
	r, err := u.run(content, "write", path)
	return r.CreatedDir, err
}

// RemoveAs removes path as u, only while its content is still old (the
// caller parsed it: apply wrote it), and then its directory when rmdir is
// set and it is empty. removed is false when there was no file;
// ErrNotOurs when it changed since it was read.
func (u User) RemoveAs(path, old string, rmdir bool) (removed bool, err error) {
	sum := sha256.Sum256([]byte(old))
	args := []string{"remove", path, hex.EncodeToString(sum[:])}
	if rmdir {
		args = append(args, "rmdir")
	}
	r, err := u.run("", args...)
	if r.NotOurs {
		return false, fmt.Errorf("%w: changed while apply ran", ErrNotOurs)
	}
	return r.Removed, err
}

// RunAsUserChild is the child of a user file operation (args: the
// operation and its operands, after AsUserCommand). It prints one JSON
// reply and returns the exit code. It refuses to run as root: the parent
// gave it the user's credentials, and a child that kept root's would
// follow the user's links with root's rights.
func RunAsUserChild(args []string, stdin io.Reader, stdout io.Writer) int {
	r := childOp(args, stdin)
	_ = json.NewEncoder(stdout).Encode(r)
	if r.Error != "" {
		return 1
	}
	return 0
}

func childOp(args []string, stdin io.Reader) userReply {
	if os.Geteuid() == 0 {
		return userReply{Error: "refusing to run as root"}
	}
	if len(args) < 2 || !filepath.IsAbs(args[1]) {
		return userReply{Error: "usage: " + AsUserCommand + " read|write|remove ABSOLUTE-PATH"}
	}
	path := args[1]
	switch {
	case args[0] == "read" && len(args) == 2:
		var r userReply
		if _, err := os.Stat(filepath.Dir(path)); err == nil {
			r.DirExists = true
		}
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return r
		}
		if err != nil {
			return userReply{Error: err.Error()}
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
		if err != nil {
			return userReply{Error: err.Error()}
		}
		if len(b) > 1<<20 {
			return userReply{Error: path + ": larger than 1 MiB"}
		}
		r.Exists, r.Content = true, string(b)
		return r
	case args[0] == "write" && len(args) == 2:
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20+1))
		if err != nil {
			return userReply{Error: err.Error()}
		}
		if len(b) > 1<<20 {
			return userReply{Error: "content larger than 1 MiB"}
		}
		// The parents (~/.config/systemd/user) as the user too.
		if err := os.MkdirAll(filepath.Dir(filepath.Dir(path)), 0o755); err != nil {
			return userReply{Error: err.Error()}
		}
		created, err := Write(path, string(b))
		if err != nil {
			return userReply{Error: err.Error()}
		}
		return userReply{CreatedDir: created}
	case args[0] == "remove" && (len(args) == 3 || len(args) == 4 && args[3] == "rmdir"):
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return userReply{}
		}
		if err != nil {
			return userReply{Error: err.Error()}
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != args[2] {
			return userReply{NotOurs: true, Error: path + ": changed since it was read"}
		}
		if err := os.Remove(path); err != nil {
			return userReply{Error: err.Error()}
		}
		if len(args) == 4 {
			_ = os.Remove(filepath.Dir(path)) // only when empty
		}
		return userReply{Removed: true}
	}
	return userReply{Error: "usage: " + AsUserCommand + " read|write|remove ABSOLUTE-PATH"}
}
