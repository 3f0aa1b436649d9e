// Package opensockets finds the address families of the sockets that the
// processes of a cgroup hold open: each socket descriptor is duplicated
// with pidfd_getfd(2) and asked for its family (SO_DOMAIN), then closed.
// The processes are not changed. learn uses it: a daemon makes its
// listening sockets at start-up, so a window on a running unit sees no
// socket() call for them, and a RestrictAddressFamilies= proposed from
// socket() calls alone would break the next start.
package opensockets

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Result is what was found.
type Result struct {
	// Families counts the distinct sockets (by inode) per family number.
	Families map[uint32]uint64
	// Processes is the number of processes looked at.
	Processes int
	// Unread counts sockets whose family could not be read; Reason is
	// the first error.
	Unread int
	Reason string
}

// InCgroup looks at every process of the cgroup2 directory dir and its
// descendants. Needs root (CAP_SYS_PTRACE over the processes).
func InCgroup(dir string) (Result, error) {
	pids, err := Pids(dir)
	if err != nil {
		return Result{}, err
	}
	return OfPids(pids), nil
}

// Pids lists the processes of the cgroup2 directory dir and its
// descendants.
func Pids(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil // a child cgroup removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		f, err := os.Open(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return sc.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("opensockets: %w", err)
	}
	return pids, nil
}

// OfPids looks at the given processes; one that exits meanwhile is
// skipped.
func OfPids(pids []int) Result {
	r := Result{Families: map[uint32]uint64{}}
	seen := map[string]bool{}
	unread := func(err error) {
		r.Unread++
		if r.Reason == "" {
			r.Reason = err.Error()
		}
	}
	for _, pid := range pids {
		fdDir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone
		}
		r.Processes++
		var pidfd = -1
		for _, e := range ents {
			link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") || seen[link] {
				continue
			}
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if pidfd < 0 {
				if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
					if errors.Is(err, unix.ESRCH) {
						break
					}
					unread(fmt.Errorf("pidfd_open %d: %w", pid, err))
					pidfd = -1
					continue
				}
			}
			dup, err := unix.PidfdGetfd(pidfd, fd, 0)
			if err != nil {
				if errors.Is(err, unix.EBADF) || errors.Is(err, unix.ESRCH) {
					continue // closed meanwhile
				}
				unread(fmt.Errorf("pidfd_getfd %d/%d: %w", pid, fd, err))
				continue
			}
			fam, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN)
			unix.Close(dup)
			if err != nil {
				unread(fmt.Errorf("SO_DOMAIN of %d/%d: %w", pid, fd, err))
				continue
			}
			seen[link] = true
			r.Families[uint32(fam)]++
		}
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
	}
	return r
}
