package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// cgEntry is one cgroup2 directory the index knows, live or removed.
type cgEntry struct {
	path    string
	unit    Unit
	unitErr error
	removed time.Time // zero while the directory exists
}

// cgIndex maps cgroup2 ids (the inode numbers of cgroup2 directories, which
// are what bpf_get_current_cgroup_id returns) to paths. It keeps removed
// cgroups for ttl so that records of processes that died with their
// cgroup can still be named.
type cgIndex struct {
	root string
	ttl  time.Duration

	mu       sync.RWMutex
	byID     map[uint64]*cgEntry
	lastScan time.Time
	scanning sync.Mutex
}

func newCgIndex(root string, ttl time.Duration) *cgIndex {
	return &cgIndex{root: root, ttl: ttl, byID: make(map[uint64]*cgEntry)}
}

func newEntry(path string) *cgEntry {
	u, err := ParseCgroupPath(path)
	return &cgEntry{path: path, unit: u, unitErr: err}
}

// lookup returns the entry of id.
func (x *cgIndex) lookup(id uint64) (*cgEntry, bool) {
	x.mu.RLock()
	e, ok := x.byID[id]
	x.mu.RUnlock()
	return e, ok
}

// add records id → path (from the BPF cgroup_mkdir hook) unless known.
func (x *cgIndex) add(id uint64, path string) {
	x.mu.Lock()
	if _, ok := x.byID[id]; !ok {
		x.byID[id] = newEntry(path)
	}
	x.mu.Unlock()
}

// dirsOf returns the directories (under root) of the live cgroups that
// belong to the host system unit named unit, its sub-cgroups included.
func (x *cgIndex) dirsOf(unit string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var dirs []string
	for _, e := range x.byID {
		if e.removed.IsZero() && e.unitErr == nil && isHostSystemUnit(e.unit, unit) {
			dirs = append(dirs, filepath.Join(x.root, filepath.FromSlash(e.path)))
		}
	}
	return dirs
}

// len returns the number of entries, removed ones included.
func (x *cgIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// rescanIfOlder rescans unless a scan finished less than minAge ago; it
// reports whether it scanned.
func (x *cgIndex) rescanIfOlder(minAge time.Duration) bool {
	x.scanning.Lock()
	defer x.scanning.Unlock()
	x.mu.RLock()
	fresh := time.Since(x.lastScan) < minAge
	x.mu.RUnlock()
	if fresh {
		return false
	}
	_ = x.scanLocked()
	return true
}

// scan walks the cgroup2 tree: new directories are added, vanished ones
// marked removed, and removed ones older than ttl forgotten.
func (x *cgIndex) scan() error {
	x.scanning.Lock()
	defer x.scanning.Unlock()
	return x.scanLocked()
}

func (x *cgIndex) scanLocked() error {
	seen := make(map[uint64]string, 256)
	err := filepath.WalkDir(x.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == x.root {
				return err
			}
			return nil // a cgroup removed while walking
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(x.root, p)
		if err != nil {
			return nil
		}
		if rel == "." {
			seen[st.Ino] = "/"
		} else {
			seen[st.Ino] = "/" + filepath.ToSlash(rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("units: scan cgroup tree %s: %w", x.root, err)
	}
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, p := range seen {
		if e, ok := x.byID[id]; !ok || e.path != p {
			x.byID[id] = newEntry(p)
		} else if !e.removed.IsZero() {
			c := *e
			c.removed = time.Time{}
			x.byID[id] = &c
		}
	}
	for id, e := range x.byID {
		if _, ok := seen[id]; ok {
			continue
		}
		switch {
		case e.removed.IsZero():
			// Entries are never changed in place while readers hold
			// them: copy.
			c := *e
			c.removed = now
			x.byID[id] = &c
		case now.Sub(e.removed) > x.ttl:
			delete(x.byID, id)
		}
	}
	x.lastScan = now
	return nil
}

// idOf returns the cgroup2 id of a path (relative to the hierarchy root).
func (x *cgIndex) idOf(path string) (uint64, error) {
	info, err := os.Stat(filepath.Join(x.root, filepath.FromSlash(path)))
	if err != nil {
		return 0, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("units: no inode")
	}
	return st.Ino, nil
}

// cgroup2Magic is CGROUP2_SUPER_MAGIC.
const cgroup2Magic = 0x63677270

// findCgroup2 returns the cgroup2 mount: /sys/fs/cgroup/unified on hybrid
// hosts, /sys/fs/cgroup on pure v2.
func findCgroup2() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err == nil && st.Type == cgroup2Magic {
			return p, nil
		}
	}
	return "", errors.New("units: no cgroup2 hierarchy mounted")
}
