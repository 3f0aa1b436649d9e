package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutExecutable asks the kernel to take the executable's own pages out
// of this process's resident set (madvise MADV_PAGEOUT on its mappings of
// the binary), once start-up is done. Start-up runs code that never runs
// again (flag parsing, the eBPF loader and its BTF decoder, the unit-file
// index) and the kernel maps 64 KiB around every page it faults in: that
// was 16.5 MB of the daemon's RSS, more than its heap. The pages are clean
// and stay in the page cache: what the daemon runs later faults back in
// without I/O, and RSS then counts what the daemon uses. Like
// debug.FreeOSMemory after the BTF parse, a one-time hint; an older kernel
// without MADV_PAGEOUT (before 5.4) refuses it and nothing changes.
// It returns the bytes of mappings it was given, 0 when it did nothing.
func pageOutExecutable() int {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	total := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue // only the binary's read-only mappings: text, rodata
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(from, 16, 64)
		b, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_PAGEOUT); e != 0 {
			return 0
		}
		total += int(b - a)
	}
	return total
}
