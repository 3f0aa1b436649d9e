package units

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoMachine means no running container of that name was found below
// /machine.slice.
var ErrNoMachine = errors.New("units: no such machine")

// MachineLeader returns the host pid of a container's PID 1: the process
// in "/machine.slice/<unit>/payload/init.scope" of the machine's unit
// (machine-NAME.scope or systemd-nspawn@NAME.service, as ParseCgroupPath
// names machines). Only root can create cgroups below machine.slice, so
// what it returns was started as a container.
func MachineLeader(name string) (int, error) {
	root, err := findCgroup2()
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(filepath.Join(root, "machine.slice"))
	if err != nil {
		return 0, fmt.Errorf("%w: %s (%v)", ErrNoMachine, name, err)
	}
	for _, e := range ents {
		comp := strings.TrimPrefix(e.Name(), "_")
		if !e.IsDir() || (unitKind(comp) != KindScope && unitKind(comp) != KindService) || machineName(comp) != name {
			continue
		}
		for _, sub := range []string{"payload/init.scope", "payload"} {
			data, err := os.ReadFile(filepath.Join(root, "machine.slice", e.Name(), sub, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%w: %s", ErrNoMachine, name)
}
