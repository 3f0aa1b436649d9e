// Package bpfids asks the kernel which BPF objects of a test are still
// there, by id (BPF_*_GET_FD_BY_ID, what bpftool uses): the one check of
// "nothing left in the kernel" for the observer's and the daemon's tests.
package bpfids

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// IDs are the kernel ids of one attached program, its link and its maps.
type IDs struct {
	Prog, Link uint32
	Maps       []uint32
}

// InKernel lists which of ids the kernel still has, e.g. "program 12".
func InKernel(t testing.TB, ids IDs) []string {
	t.Helper()
	var left []string
	if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(ids.Prog)); err == nil {
		p.Close()
		left = append(left, fmt.Sprintf("program %d", ids.Prog))
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("program %d: %v", ids.Prog, err)
	}
	if l, err := link.NewFromID(link.ID(ids.Link)); err == nil {
		l.Close()
		left = append(left, fmt.Sprintf("link %d", ids.Link))
	}
	for _, id := range ids.Maps {
		if m, err := ebpf.NewMapFromID(ebpf.MapID(id)); err == nil {
			m.Close()
			left = append(left, fmt.Sprintf("map %d", id))
		}
	}
	return left
}
