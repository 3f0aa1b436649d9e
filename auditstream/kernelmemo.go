package auditstream

import "bytes"

// memoSize is how many distinct SECCOMP record bodies kernelMemo keeps: a
// storm is a few processes each making one denied call again and again,
// and their records interleave.
const memoSize = 8

// kernelMemo parses netlink SECCOMP record bodies as ParseKernel does,
// remembering the last memoSize bodies (everything after the
// "audit(time:serial):" prefix) and their decoded fields: a body seen
// before is compared, not parsed again. Parsing is a pure function of
// the bytes, so a remembered record is the one ParseKernel would return
// (TestKernelMemo, FuzzKernelMemo). Only bodies that parse are kept. Not
// safe for concurrent use: the read loop owns it.
type kernelMemo struct {
	next    int
	entries [memoSize]memoEntry
}

type memoEntry struct {
	body []byte // nil: unused
	rec  Record // the fields the body gave (time and serial are the prefix's)
}

// parse returns ParseKernel(data) (data trimmed of trailing NULs and
// newlines, as the read loop passes it).
func (m *kernelMemo) parse(data []byte) (Record, error) {
	var r Record
	rest, err := parseRawPrefix(&r, data)
	if err != nil {
		return Record{}, err
	}
	for i := range m.entries {
		e := &m.entries[i]
		if e.body != nil && bytes.Equal(e.body, rest) {
			t, serial, has := r.Time, r.Serial, r.HasSerial
			r = e.rec
			r.Time, r.Serial, r.HasSerial = t, serial, has
			return r, nil
		}
	}
	if err := parseFields(&r, rest, false, nil); err != nil {
		return Record{}, err
	}
	e := &m.entries[m.next]
	m.next = (m.next + 1) % memoSize
	if e.body == nil || cap(e.body) > 4*len(rest)+1024 {
		e.body = make([]byte, 0, len(rest))
	}
	e.body = append(e.body[:0], rest...)
	e.rec = r
	return r, nil
}
