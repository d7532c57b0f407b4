package producer

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookline/hookline/payload"
)

// The packing estimate is exact for a 128-byte id (the longest), so an
// envelope never exceeds MaxEnvelopeBytes and is not sealed early.
func TestEnvelopeSizeEstimate(t *testing.T) {
	var withExtra payload.Event
	if err := json.Unmarshal([]byte(`{"name":"client_event","data":{"a":"<b>&é"},"zz":[1, 2],"subscription_count":3}`), &withExtra); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		app    string
		events []payload.Event
	}{
		{"app-1", []payload.Event{{Name: "x"}}},
		{"app \"quoted\" \\ <tag> é \u2028 \x01", []payload.Event{{Name: "member_added", Channel: "presence-<é>", UserID: "u\"1", TimeMS: 1678886400100}, withExtra}},
		{strings.Repeat("a", 300), []payload.Event{withExtra, withExtra, {Name: "n", Data: "\u2029\t"}}},
	} {
		want := headerSize(tc.app) + len(tc.events) - 1
		for _, ev := range tc.events {
			b, err := ev.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if n := payload.EventSize(&ev); n != len(b) {
				t.Errorf("EventSize = %d, MarshalJSON wrote %d bytes", n, len(b))
			}
			want += len(b)
		}
		body, err := payload.Encode(&payload.Envelope{V: payload.Version, ID: strings.Repeat("f", maxIDLen), AppID: tc.app, Events: tc.events})
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != want {
			t.Errorf("app %q: encoded %d bytes, estimated %d\n%s", tc.app, len(body), want, body)
		}
	}
}
