package observe

import "fmt"

// kindNames are the kinds' names in JSON (learn --format json, the
// daemon's /api/v1/learn answer).
var kindNames = map[Kind]string{
	KindCall: "call", KindFamily: "family", KindWriteExec: "write_exec", KindExec: "exec",
	KindNamespace: "namespace", KindPersonality: "personality", KindScheduler: "scheduler", KindSUIDSGID: "suid_sgid",
}

// String returns the kind's name.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind:%d", uint16(k))
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) {
	if n, ok := kindNames[k]; ok {
		return []byte(n), nil
	}
	return nil, fmt.Errorf("observe: unknown event kind %d", uint16(k))
}

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for kind, n := range kindNames {
		if n == string(b) {
			*k = kind
			return nil
		}
	}
	return fmt.Errorf("observe: unknown event kind %q", b)
}
