package payload

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func i64(n int64) *int64 { return &n }

func TestEventDecodeEncode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Event  // known fields after decode (extras checked via out)
		out  string // exact re-encoding
	}{
		{
			name: "pusher member_added",
			in:   `{"name":"member_added","channel":"presence-chat","user_id":"u1"}`,
			want: Event{Name: "member_added", Channel: "presence-chat", UserID: "u1"},
			out:  `{"name":"member_added","channel":"presence-chat","user_id":"u1"}`,
		},
		{
			name: "all known fields in canonical order",
			in:   `{"id":"e:0","time_ms":1678886400100,"subscription_count":3,"user_id":"u","socket_id":"1.2","data":"d","event":"client-x","channel":"c","name":"n"}`,
			want: Event{Name: "n", Channel: "c", Event: "client-x", Data: "d", SocketID: "1.2", UserID: "u", SubscriptionCount: i64(3), TimeMS: 1678886400100, ID: "e:0"},
			out:  `{"name":"n","channel":"c","event":"client-x","data":"d","socket_id":"1.2","user_id":"u","subscription_count":3,"time_ms":1678886400100,"id":"e:0"}`,
		},
		{
			name: "subscription_count zero is kept",
			in:   `{"name":"subscription_count","channel":"c","subscription_count":0}`,
			want: Event{Name: "subscription_count", Channel: "c", SubscriptionCount: i64(0)},
			out:  `{"name":"subscription_count","channel":"c","subscription_count":0}`,
		},
		{
			name: "subscription_count null is absent",
			in:   `{"name":"subscription_count","subscription_count":null}`,
			want: Event{Name: "subscription_count"},
			out:  `{"name":"subscription_count"}`,
		},
		{
			name: "data object normalised to compact JSON text",
			in:   `{"name":"client_event","data": { "a" : [1, 2],"b":"<&>" } }`,
			want: Event{Name: "client_event", Data: `{"a":[1,2],"b":"<&>"}`},
			out:  `{"name":"client_event","data":"{\"a\":[1,2],\"b\":\"<&>\"}"}`,
		},
		{
			name: "data array",
			in:   `{"name":"client_event","data":[1,"x"]}`,
			want: Event{Name: "client_event", Data: `[1,"x"]`},
			out:  `{"name":"client_event","data":"[1,\"x\"]"}`,
		},
		{
			name: "data number keeps its spelling",
			in:   `{"name":"client_event","data":1.50}`,
			want: Event{Name: "client_event", Data: `1.50`},
			out:  `{"name":"client_event","data":"1.50"}`,
		},
		{
			name: "data bool",
			in:   `{"name":"client_event","data":false}`,
			want: Event{Name: "client_event", Data: `false`},
			out:  `{"name":"client_event","data":"false"}`,
		},
		{
			name: "invalid UTF-8 in object data replaced, as in string data",
			in:   `{"name":"client_event","data":{"a":"` + "\xff\xed\xa0\x80" + `x"}}`,
			want: Event{Name: "client_event", Data: "{\"a\":\"\ufffd\ufffd\ufffd\ufffdx\"}"},
			out:  `{"name":"client_event","data":"{\"a\":\"\ufffd\ufffd\ufffd\ufffdx\"}"}`, // ASCII for SQS
		},
		{
			name: "data null is absent",
			in:   `{"name":"client_event","data":null}`,
			want: Event{Name: "client_event"},
			out:  `{"name":"client_event"}`,
		},
		{
			name: "data string that looks like JSON stays a string",
			in:   `{"name":"client_event","data":"{\"a\":1}"}`,
			want: Event{Name: "client_event", Data: `{"a":1}`},
			out:  `{"name":"client_event","data":"{\"a\":1}"}`,
		},
		{
			name: "unknown fields survive, compact and sorted after known ones",
			in:   `{"zeta": {"k" : [1, 2]}, "name":"cache_miss","alpha":null,"channel":"cache-x","mid":"<b>"}`,
			want: Event{Name: "cache_miss", Channel: "cache-x"},
			out:  `{"name":"cache_miss","channel":"cache-x","alpha":null,"mid":"<b>","zeta":{"k":[1,2]}}`,
		},
		{
			name: "unknown event name passes through",
			in:   `{"name":"some_future_event","channel":"c","weird":1e400}`,
			want: Event{Name: "some_future_event", Channel: "c"},
			out:  `{"name":"some_future_event","channel":"c","weird":1e400}`,
		},
		{
			name: "HTML characters not escaped; non-ASCII escaped (SQS refuses some characters)",
			in:   `{"name":"client_event","channel":"a<b>&c","data":"é\u2028"}`,
			want: Event{Name: "client_event", Channel: "a<b>&c", Data: "é\u2028"},
			out:  `{"name":"client_event","channel":"a<b>&c","data":"\u00e9\u2028"}`,
		},
		{
			name: "escaped unknown key is re-escaped",
			in:   `{"name":"n","a\"b":1}`,
			want: Event{Name: "n"},
			out:  `{"name":"n","a\"b":1}`,
		},
		{
			name: "null known strings are absent",
			in:   `{"name":"n","channel":null,"user_id":null,"time_ms":null}`,
			want: Event{Name: "n"},
			out:  `{"name":"n"}`,
		},
		{
			name: "duplicate key: last wins",
			in:   `{"name":"a","name":"b"}`,
			want: Event{Name: "b"},
			out:  `{"name":"b"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Event
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			known := got
			known.extra = nil
			if !reflect.DeepEqual(known, tt.want) {
				t.Errorf("decoded %+v, want %+v", known, tt.want)
			}
			out, err := got.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if string(out) != tt.out {
				t.Errorf("encoded\n got %s\nwant %s", out, tt.out)
			}
			var again Event
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("Unmarshal(encoded): %v", err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("round trip changed the event:\n got %#v\nwant %#v", again, got)
			}
		})
	}
}

// eventRejection is an event object decodeEvent must reject.
type eventRejection struct{ in, err string }

func eventRejections() []eventRejection {
	return []eventRejection{
		{`[]`, `payload: event: want a JSON object, got array`},
		{`"x"`, `payload: event: want a JSON object, got string`},
		{`5`, `payload: event: want a JSON object, got number`},
		{`{"name":5}`, `payload: event: "name": want a string, got number`},
		{`{"name":"n","channel":{}}`, `payload: event: "channel": want a string, got object`},
		{`{"name":"n","user_id":123}`, `payload: event: "user_id": want a string, got number`},
		{`{"name":"n","socket_id":true}`, `payload: event: "socket_id": want a string, got bool`},
		{`{"name":"n","time_ms":"1678886400100"}`, `payload: event: "time_ms": want an integer, got string`},
		{`{"name":"n","time_ms":1.5}`, `payload: event: "time_ms": want an integer, got 1.5`},
		{`{"name":"n","time_ms":1e3}`, `payload: event: "time_ms": want an integer, got 1e3`},
		{`{"name":"n","subscription_count":"3"}`, `payload: event: "subscription_count": want an integer, got string`},
		{`{"name":"n","subscription_count":99999999999999999999}`, `payload: event: "subscription_count": want an integer, got 99999999999999999999`},
		{`{"name":"n","id":7}`, `payload: event: "id": want a string, got number`},
		// several bad keys: the first in sorted order is reported, every time
		{`{"user_id":1,"channel":2,"name":3}`, `payload: event: "channel": want a string, got number`},
		// keys that differ from a known one only in case
		{`{"name":"client_event","Data":{"x":1}}`, `payload: event: "Data" differs from "data" only in case`},
		{`{"name":"x","CHANNEL":"c"}`, `payload: event: "CHANNEL" differs from "channel" only in case`},
		{`{"Name":"x"}`, `payload: event: "Name" differs from "name" only in case`},
	}
}

func TestEventDecodeErrors(t *testing.T) {
	for _, tt := range eventRejections() {
		t.Run(tt.in, func(t *testing.T) {
			var e Event
			err := json.Unmarshal([]byte(tt.in), &e)
			if err == nil {
				t.Fatalf("Unmarshal(%s) = nil error, want %q", tt.in, tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("Unmarshal(%s) error\n got %q\nwant %q", tt.in, err, tt.err)
			}
		})
	}
}

func TestEventUnmarshalNullKeepsValue(t *testing.T) {
	e := Event{Name: "keep"}
	if err := json.Unmarshal([]byte(`null`), &e); err != nil {
		t.Fatal(err)
	}
	if e.Name != "keep" {
		t.Fatalf("null changed the event: %+v", e)
	}
}

func TestEventUnmarshalReplaces(t *testing.T) {
	var e Event
	if err := json.Unmarshal([]byte(`{"name":"a","channel":"c","x":1}`), &e); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"name":"b"}`), &e); err != nil {
		t.Fatal(err)
	}
	out, _ := e.MarshalJSON()
	if string(out) != `{"name":"b"}` {
		t.Fatalf("second decode kept stale fields: %s", out)
	}
}

func TestEventMarshalThroughEncodingJSON(t *testing.T) {
	// Value and pointer both use the custom encoding.
	e := Event{Name: "n", Channel: "c"}
	for _, v := range []any{e, &e, []Event{e}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != `{"name":"n","channel":"c"}` && got != `[{"name":"n","channel":"c"}]` {
			t.Errorf("json.Marshal(%T) = %s", v, got)
		}
	}
	// The zero Event still writes "name", so the result is a valid object.
	b, err := json.Marshal(Event{})
	if err != nil || string(b) != `{"name":""}` {
		t.Errorf("json.Marshal(Event{}) = %s, %v", b, err)
	}
}

func TestEventRejectsKeysDifferingOnlyInCase(t *testing.T) {
	for _, in := range []string{`{"name":"client_event","Data":{"x":1}}`, `{"name":"x","CHANNEL":"c"}`, `{"Name":"x"}`} {
		var e Event
		if err := json.Unmarshal([]byte(in), &e); err == nil || !strings.Contains(err.Error(), "only in case") {
			t.Errorf("%s: err = %v, want a case error", in, err)
		}
	}
}
