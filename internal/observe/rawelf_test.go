package observe

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// A hand-made static x86_64 ELF program makes exactly the calls a test
// lists (no libc, no Go runtime: nothing else), so the observer's answer
// can be compared with the ground truth. Its first call is read(0, buf, 1),
// the gate: the test moves the blocked process into the learned cgroup and
// then writes a byte, so that the read's own sys_enter (made outside the
// cgroup) is not part of what the cgroup did.

// rawCall is one system call: the native (syscall) or i386 (int 0x80)
// number and up to four arguments.
type rawCall struct {
	nr   uint64
	args []uint64
	i386 bool
	// repeat makes a native call this many times (a loop; 0 is once).
	repeat uint32
	// spin is no call: the program spins in user space until the test
	// writes a non-zero quadword at rawFlag (through /proc/PID/mem).
	spin bool
}

const (
	rawBase = 0x400000
	rawData = 0x600000 // 4 KiB of zeroes (bss)
	// rawCloneArgs is where the program stores a struct clone_args for
	// clone3 (flags at offset 0).
	rawCloneArgs = rawData + 0x100
	// rawFlag is the quadword a spin waits for.
	rawFlag = rawData + 0x200
)

func movImm(reg int, v uint64) []byte {
	b := []byte{0x48, byte(0xb8 + reg)}
	if reg >= 8 {
		b = []byte{0x49, byte(0xb8 + reg - 8)}
	}
	return binary.LittleEndian.AppendUint64(b, v)
}

// rawProgram returns the machine code: the gate, storeFlags into
// clone_args.flags, the calls, exit_group(0).
func rawProgram(storeFlags uint64, calls []rawCall) []byte {
	const rax, rdx, rbx, rcx, rsi, rdi, r10 = 0, 2, 3, 1, 6, 7, 10
	var code []byte
	emit := func(c rawCall) {
		if c.spin {
			// 1: movabs rax, [rawFlag]; test rax, rax; jz 1b
			code = append(code, 0x48, 0xa1)
			code = binary.LittleEndian.AppendUint64(code, rawFlag)
			code = append(code, 0x48, 0x85, 0xc0, 0x74, 0xf1)
			return
		}
		if c.repeat > 1 {
			// mov r12, repeat (kept across syscall, unlike rcx and r11)
			code = append(code, 0x49, 0xc7, 0xc4)
			code = binary.LittleEndian.AppendUint32(code, c.repeat)
		}
		top := len(code)
		regs := []int{rdi, rsi, rdx, r10}
		if c.i386 {
			regs = []int{rbx, rcx, rdx, rsi}
		}
		code = append(code, movImm(rax, c.nr)...)
		for i, a := range c.args {
			code = append(code, movImm(regs[i], a)...)
		}
		if c.i386 {
			code = append(code, 0xcd, 0x80)
		} else {
			code = append(code, 0x0f, 0x05)
		}
		if c.repeat > 1 {
			// dec r12; jnz top
			code = append(code, 0x49, 0xff, 0xcc, 0x0f, 0x85)
			code = binary.LittleEndian.AppendUint32(code, uint32(int32(top-(len(code)+4))))
		}
	}
	emit(rawCall{nr: 0, args: []uint64{0, rawData, 1}}) // read(0, buf, 1)
	code = append(code, movImm(rax, storeFlags)...)
	code = append(code, 0x48, 0xa3) // movabs [moffs64], rax
	code = binary.LittleEndian.AppendUint64(code, rawCloneArgs)
	for _, c := range calls {
		emit(c)
	}
	emit(rawCall{nr: 231, args: []uint64{0}}) // exit_group(0)
	return code
}

// writeRawELF writes the program as an executable file in dir.
func writeRawELF(dir, name string, storeFlags uint64, calls []rawCall) (string, error) {
	code := rawProgram(storeFlags, calls)
	const ehdr, phdr = 64, 56
	hdrs := ehdr + 2*phdr
	le := binary.LittleEndian
	f := make([]byte, hdrs)
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], 2)  // ET_EXEC
	le.PutUint16(f[18:], 62) // EM_X86_64
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], rawBase+uint64(hdrs)) // entry
	le.PutUint64(f[32:], ehdr)                 // phoff
	le.PutUint16(f[52:], ehdr)
	le.PutUint16(f[54:], phdr)
	le.PutUint16(f[56:], 2)
	seg := func(at int, flags uint32, off, vaddr, filesz, memsz uint64) {
		p := f[at:]
		le.PutUint32(p[0:], 1) // PT_LOAD
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], vaddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], 0x1000)
	}
	total := uint64(hdrs + len(code))
	seg(ehdr, 5, 0, rawBase, total, total)   // R+X: headers and code
	seg(ehdr+phdr, 6, 0, rawData, 0, 0x1000) // R+W: zeroes
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, append(f, code...), 0o755)
}
