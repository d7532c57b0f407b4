package payload

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Everything payload writes for the queue is ASCII, whatever the events
// hold, and reads back as the same strings; the size estimators stay exact.
func TestQueueTextIsASCII(t *testing.T) {
	strange := "\uffff \ufffe 😀 𝄞 \u2028 é \x00 " + "\xff"
	ev := Event{Name: EventClientEvent, Channel: "private-é", Event: "client-😀", Data: strange, UserID: strange}
	ev.extra = map[string]json.RawMessage{"note": json.RawMessage(`"` + "ü\xff" + `"`)}
	env := &Envelope{V: Version, ID: "id-1", AppID: "app-é", Events: []Event{ev, {Name: "x"}}}
	b, err := Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	if !isASCII(b) {
		t.Fatalf("Encode wrote non-ASCII: %q", b)
	}
	if n := EnvelopeOverhead(env.ID, env.AppID) + EventSize(&env.Events[0]) + 1 + EventSize(&env.Events[1]); n != len(b) {
		t.Errorf("estimated %d bytes, Encode wrote %d", n, len(b))
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Encode(back)
	if err != nil || string(again) != string(b) {
		t.Errorf("Decode→Encode is not stable:\n%s\n%s (%v)", b, again, err)
	}
	if got := back.Events[0]; got.Data != "\uffff \ufffe 😀 𝄞 \u2028 é \x00 \ufffd" || got.Channel != ev.Channel || got.Event != ev.Event {
		t.Errorf("read back %+v", got)
	}

	// An envelope another producer wrote with raw UTF-8: a retry or DLQ
	// copy of it spliced from its raw events is ASCII too, and the same.
	foreign := []byte(`{"v":1,"id":"f","app_id":"a","events":[{"name":"x","data":"` + "😀\uffff" + `"}],"extra":"` + "é" + `"}`)
	raw, err := DecodeRaw(foreign)
	if err != nil {
		t.Fatal(err)
	}
	raw.Attempt = 2
	out, err := AppendEnvelope([]byte("prefix-"), raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:7]) != "prefix-" || !isASCII(out[7:]) {
		t.Fatalf("AppendEnvelope wrote %q", out)
	}
	a, err := Decode(out[7:])
	if err != nil {
		t.Fatal(err)
	}
	b0, _ := Decode(foreign)
	b0.Attempt = 2
	if !reflect.DeepEqual(a.Events, b0.Events) || a.Attempt != 2 {
		t.Errorf("spliced copy reads back as %+v, want %+v", a, b0)
	}
}
