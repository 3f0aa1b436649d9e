// Package state persists the daemon's aggregated denials across restarts:
// one JSON file, written atomically (temporary file, fsync, rename, fsync of
// the directory), bounded in size, and read back with a clear error when it
// is damaged, in which case the damaged file is kept aside for inspection.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// MaxSize is the largest state file Load accepts.
const MaxSize = 256 << 20

// maxSize is MaxSize, lowered by tests.
var maxSize int64 = MaxSize

// writing, when set (by the crash test), is called once the temporary file
// exists and before it is written: that is when a kill leaves a torn file.
var writing func()

// ErrTooLarge reports a value whose JSON exceeds MaxSize: Save keeps the
// previous file rather than write one that Load would refuse.
var ErrTooLarge = errors.New("state: too large")

// ErrCorrupt reports a state file that exists but cannot be read back; Load
// has moved it aside.
var ErrCorrupt = errors.New("state: file is damaged")

// Save writes v as JSON to path atomically: readers see the old file or the
// new one, never a mix, also across a crash or power loss.
func Save(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: encode: %w", err)
	}
	if int64(len(data)) > maxSize {
		return fmt.Errorf("%w: %d bytes of JSON, more than %d; %s keeps the previous state", ErrTooLarge, len(data), maxSize, path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp := f.Name()
	if writing != nil {
		writing()
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("state: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("state: sync %s: %w", tmp, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		// The rename is durable only once the directory is synced.
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("state: sync dir %s: %w", dir, err)
		}
	}
	return nil
}

// tempPattern is the glob of Save's temporary files for path.
func tempPattern(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
}

// RemoveLeftovers removes the temporary files of Saves to path that a crash
// (SIGKILL, power loss) interrupted before their rename, and returns how
// many it removed. Call it only while nothing is saving to path; Load does.
func RemoveLeftovers(path string) (int, error) {
	names, err := filepath.Glob(tempPattern(path))
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Load reads the JSON file at path into v. A missing file returns an error
// satisfying errors.Is(err, os.ErrNotExist). A damaged file (bad JSON,
// truncated, too large) is renamed to path+".corrupt-<unix time>" and an
// error wrapping ErrCorrupt that names the new location is returned. Load
// first removes what interrupted Saves left (RemoveLeftovers): it is meant
// for start-up, before anything saves to path.
func Load(path string, v any) error {
	_, _ = RemoveLeftovers(path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, maxSize+1))
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if fi, serr := f.Stat(); serr == nil && fi.Size() > maxSize {
			err = fmt.Errorf("larger than %d bytes", maxSize)
		}
	}
	if err == nil {
		return nil
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return fmt.Errorf("%w: %s: %v (could not move it aside: %v)", ErrCorrupt, path, err, rerr)
	}
	return fmt.Errorf("%w: %s: %v; kept as %s", ErrCorrupt, path, err, aside)
}
