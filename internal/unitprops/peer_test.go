package unitprops

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// peerServer is a manager's private socket as systemd 252 was seen to
// serve it: the D-Bus authentication without a bus (no Hello), then
// calls answered only once a later one arrives (the first call after
// BEGIN stays unanswered until more data comes) when holdFirst is set.
func peerServer(t *testing.T, holdFirst bool) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "private")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go servePeer(c, holdFirst)
		}
	}()
	return "unix:path=" + sock
}

func servePeer(c net.Conn, holdFirst bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	if b, err := r.ReadByte(); err != nil || b != 0 {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch line = strings.TrimSpace(line); {
		case line == "AUTH":
			c.Write([]byte("REJECTED EXTERNAL\r\n"))
		case strings.HasPrefix(line, "AUTH EXTERNAL"):
			c.Write([]byte("OK 0123456789abcdef0123456789abcdef\r\n"))
		case line == "NEGOTIATE_UNIX_FD":
			c.Write([]byte("ERROR\r\n"))
		case line == "BEGIN":
			var held []*dbus.Message
			for {
				m, err := dbus.DecodeMessage(r)
				if err != nil {
					return
				}
				if holdFirst && len(held) == 0 && m.Serial() == 1 {
					held = append(held, m)
					continue
				}
				for _, m := range append(held, m) {
					reply := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
						dbus.FieldReplySerial: dbus.MakeVariant(m.Serial()),
					}}
					if err := reply.EncodeTo(c, binary.LittleEndian); err != nil {
						return
					}
				}
				held = nil
			}
		default:
			c.Write([]byte("ERROR\r\n"))
		}
	}
}

// TestDialPeer: a peer connection (no Hello) to a manager's private
// socket is usable once dialAuth returns, also when the manager holds the
// first call after BEGIN until more data arrives (kick pings again).
func TestDialPeer(t *testing.T) {
	for _, hold := range []bool{false, true} {
		t.Run(map[bool]string{false: "answers at once", true: "holds the first call"}[hold], func(t *testing.T) {
			addr := peerServer(t, hold)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			c, err := dialAuth(ctx, addr, true)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if d := time.Since(start); d > 5*kickEvery {
				t.Errorf("dial took %s", d)
			}
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			defer ccancel()
			if err := c.Object(systemdBusName, systemdPath).CallWithContext(cctx, "org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
				t.Fatalf("a call after the dial: %v", err)
			}
		})
	}
}
