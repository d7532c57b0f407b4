package payload

import (
	"reflect"
	"testing"
)

func TestEncodeBody(t *testing.T) {
	tests := []struct {
		name   string
		timeMS int64
		events []Event
		want   string
	}{
		{
			"one event is still an envelope",
			1678886400123,
			[]Event{{Name: EventChannelOccupied, Channel: "presence-chat"}},
			`{"time_ms":1678886400123,"events":[{"name":"channel_occupied","channel":"presence-chat"}]}`,
		},
		{
			"no HTML escaping, delivery id kept",
			1,
			[]Event{{Name: EventClientEvent, Channel: "private-<x>", Event: "client-a&b", Data: `{"html":"<b>"}`, ID: "env:1"}},
			`{"time_ms":1,"events":[{"name":"client_event","channel":"private-<x>","event":"client-a&b","data":"{\"html\":\"<b>\"}","id":"env:1"}]}`,
		},
		{
			"zero time is written",
			0,
			[]Event{{Name: "x"}},
			`{"time_ms":0,"events":[{"name":"x"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeBody(tt.timeMS, tt.events)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("EncodeBody =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEncodeBodyGolden(t *testing.T) {
	e := sampleEnvelope()
	for i := range e.Events {
		e.Events[i].ID = e.ID + ":" + string(rune('0'+i))
	}
	b, err := EncodeBody(1678886460000, e.Events)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "body.golden.json", b)

	// The same input always gives the same bytes (they are signed).
	for range 20 {
		again, _ := EncodeBody(1678886460000, e.Events)
		if string(again) != string(b) {
			t.Fatal("EncodeBody is not deterministic")
		}
	}
}

func TestEncodeBodyErrors(t *testing.T) {
	if _, err := EncodeBody(1, nil); err == nil || err.Error() != "payload: body: no events" {
		t.Errorf("EncodeBody(nil) error = %v", err)
	}
	_, err := EncodeBody(1, []Event{{Name: "a"}, {Channel: "c"}})
	if err == nil || err.Error() != `payload: body: events[1]: missing "name"` {
		t.Errorf("EncodeBody(nameless) error = %v", err)
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Body
		err  string
	}{
		{
			name: "pusher body",
			in:   `{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"},{"name":"member_added","channel":"presence-x","user_id":"u"}]}`,
			want: &Body{TimeMS: 1327078148132, Events: []Event{{Name: "channel_occupied", Channel: "test_channel"}, {Name: "member_added", Channel: "presence-x", UserID: "u"}}},
		},
		{
			name: "empty events allowed",
			in:   `{"time_ms":1,"events":[]}`,
			want: &Body{TimeMS: 1, Events: []Event{}},
		},
		{
			name: "object data normalised",
			in:   `{"time_ms":1,"events":[{"name":"client_event","data":{"a":1}}],"extra":true}`,
			want: &Body{TimeMS: 1, Events: []Event{{Name: "client_event", Data: `{"a":1}`}}},
		},
		{name: "not JSON", in: `{"time_ms":`, err: "payload: body: not valid JSON: unexpected end of JSON input"},
		{name: "array", in: `[]`, err: "payload: body: want a JSON object, got array"},
		{name: "null", in: `null`, err: "payload: body: want a JSON object, got null"},
		{name: "seed flat single event", in: `{"name":"channel_occupied","channel":"c"}`, err: `payload: body: missing "time_ms"`},
		{name: "time_ms null", in: `{"time_ms":null,"events":[]}`, err: `payload: body: missing "time_ms"`},
		{name: "time_ms string", in: `{"time_ms":"1","events":[]}`, err: `payload: body: "time_ms": want an integer, got string`},
		{name: "time_ms float", in: `{"time_ms":1.5,"events":[]}`, err: `payload: body: "time_ms": want an integer, got 1.5`},
		{name: "events missing", in: `{"time_ms":1}`, err: `payload: body: missing "events"`},
		{name: "events object", in: `{"time_ms":1,"events":{}}`, err: `payload: body: "events": want an array, got object`},
		{name: "event not object", in: `{"time_ms":1,"events":[{"name":"a"},7]}`, err: `payload: body: events[1]: want a JSON object, got number`},
		{name: "event bad field", in: `{"time_ms":1,"events":[{"name":"a","channel":1}]}`, err: `payload: body: events[0]: "channel": want a string, got number`},
		{name: "event without name", in: `{"time_ms":1,"events":[{"name":"a"},{"channel":"c"}]}`, err: `payload: body: events[1]: missing "name"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBody([]byte(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("DecodeBody error = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeBody =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestBodyRoundTrip(t *testing.T) {
	in := `{"time_ms":5,"events":[{"name":"cache_miss","channel":"cache-x","unknown":{"b":2,"a":1}}]}`
	b, err := DecodeBody([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeBody(b.TimeMS, b.Events)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Fatalf("round trip\n got %s\nwant %s", out, in)
	}
}
