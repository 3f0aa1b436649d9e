// Package kbtf reads struct field offsets from the running kernel's BTF,
// for the eBPF programs the project writes with cilium/ebpf's asm package
// (no CO-RE, no clang): internal/units' attribution hooks and
// internal/observe's sys_enter observer.
package kbtf

import (
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// MemberOffset returns the byte offset of the first of names that struct
// typ has, looking into anonymous structs and unions.
func MemberOffset(spec *btf.Spec, typ string, names ...string) (int16, error) {
	var s *btf.Struct
	if err := spec.TypeByName(typ, &s); err != nil {
		return 0, fmt.Errorf("btf struct %s: %w", typ, err)
	}
	for _, n := range names {
		if off, ok := findMember(s.Members, n, 0); ok && off < 1<<15 {
			return int16(off), nil
		}
	}
	return 0, fmt.Errorf("btf: no field %v in struct %s", names, typ)
}

func findMember(members []btf.Member, name string, base uint32) (uint32, bool) {
	for _, m := range members {
		if m.Name == name {
			return base + m.Offset.Bytes(), true
		}
		if m.Name == "" {
			var inner []btf.Member
			switch t := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = t.Members
			case *btf.Union:
				inner = t.Members
			}
			if off, ok := findMember(inner, name, base+m.Offset.Bytes()); ok {
				return off, true
			}
		}
	}
	return 0, false
}
