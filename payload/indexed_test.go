package payload

import (
	"strconv"
	"testing"
)

// AppendEventIndexed writes what AppendEvent writes with the id set, for
// ids that need escaping too.
func TestAppendEventIndexedMatchesAppendEvent(t *testing.T) {
	events := []string{
		`{"name":"member_added","channel":"presence-x","user_id":"u1"}`,
		`{}`,
		`{"name":"x"}`,
	}
	for _, envID := range []string{"env-1", `quote"and\backslash`, "ing-0123456789abcdef-12"} {
		prefix := IDPrefix(envID)
		for _, js := range events {
			for _, index := range []int{0, 7, 99, 12345} {
				e := RawEvent{JSON: []byte(js)}
				got := AppendEventIndexed([]byte("x"), &e, prefix, index)
				withID := e
				withID.ID = envID + ":" + strconv.Itoa(index)
				want := AppendEvent([]byte("x"), &withID)
				if string(got) != string(want) {
					t.Errorf("id %q, event %s, index %d:\n got %s\nwant %s", envID, js, index, got, want)
				}
				if n := e.SizeIndexed(prefix, index); n != len(got)-1 {
					t.Errorf("SizeIndexed = %d, wrote %d", n, len(got)-1)
				}
			}
		}
	}
}
