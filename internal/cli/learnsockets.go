package cli

import "github.com/seccompwatch/seccompwatch/internal/opensockets"

// openSockets reads the families of the sockets the processes of the
// unit's cgroup dir hold at the end of the window (made at start-up, they
// show no socket() call). A failure counts as an unread socket, so the
// proposal holds RestrictAddressFamilies= back and says why.
func openSockets(dir string) *opensockets.Result {
	r, err := opensockets.InCgroup(dir)
	if err != nil {
		return &opensockets.Result{Unread: 1, Reason: err.Error()}
	}
	return &r
}
