package payload

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want = []byte(strings.TrimSuffix(string(want), "\n"))
	if string(got) != string(want) {
		t.Errorf("%s mismatch\n got %s\nwant %s", path, got, want)
	}
}

func sampleEnvelope() *Envelope {
	return &Envelope{
		V:     Version,
		ID:    "01HV4Z9Q8W-app-1",
		AppID: "app-1",
		Events: []Event{
			{Name: EventMemberAdded, Channel: "presence-chat", UserID: "u1", TimeMS: 1678886400100},
			{Name: EventClientEvent, Channel: "private-chat", Event: "client-typing", Data: `{"text":"<hi> & bye"}`, SocketID: "123.456", UserID: "u1", TimeMS: 1678886400200},
			{Name: EventSubscriptionCount, Channel: "chat", SubscriptionCount: i64(0), TimeMS: 1678886400300},
		},
	}
}

func TestEncodeGolden(t *testing.T) {
	b, err := Encode(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope.golden.json", b)

	retry := sampleEnvelope()
	retry.Targets = []string{"wh-a1b2", "wh-c3d4"}
	retry.Attempt = 2
	retry.FirstAttemptMS = 1678886401000
	retry.NotBeforeMS = 1678887401000
	b, err = Encode(retry)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope-retry.golden.json", b)
}

func TestDecodeGolden(t *testing.T) {
	for name, want := range map[string]func() *Envelope{
		"envelope.golden.json": sampleEnvelope,
		"envelope-retry.golden.json": func() *Envelope {
			e := sampleEnvelope()
			e.Targets, e.Attempt, e.FirstAttemptMS, e.NotBeforeMS = []string{"wh-a1b2", "wh-c3d4"}, 2, 1678886401000, 1678887401000
			return e
		},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", name, err)
		}
		if !reflect.DeepEqual(got, want()) {
			t.Errorf("Decode(%s) =\n%#v\nwant\n%#v", name, got, want())
		}
	}
}

func TestDecodeDesignExample(t *testing.T) {
	// The example from DESIGN §3, verbatim.
	in := `{"v":1,"id":"<unique, producer-made>","app_id":"app-1","events":[{"name":"member_added","channel":"presence-chat","user_id":"u1","time_ms":1678886400100}]}`
	_, err := Decode([]byte(in))
	// "<unique, producer-made>" contains a space: the example id itself is not a valid id.
	want := `payload: "id": byte 8 is 0x20; want printable ASCII without spaces`
	if err == nil || err.Error() != want {
		t.Fatalf("Decode = %v, want %s", err, want)
	}
	e, err := Decode([]byte(strings.Replace(in, "<unique, producer-made>", "01HV4Z9Q8W", 1)))
	if err != nil {
		t.Fatal(err)
	}
	want2 := &Envelope{V: 1, ID: "01HV4Z9Q8W", AppID: "app-1", Events: []Event{{Name: "member_added", Channel: "presence-chat", UserID: "u1", TimeMS: 1678886400100}}}
	if !reflect.DeepEqual(e, want2) {
		t.Fatalf("Decode = %#v", e)
	}
}

const ev = `[{"name":"channel_occupied","channel":"c"}]`

// decodeRejection is an input Decode (and DecodeRaw) must reject.
type decodeRejection struct {
	name   string
	in     string
	reason string // "" = ErrFutureVersion
	err    string
}

func decodeRejections() []decodeRejection {
	long := strings.Repeat("x", 129)
	return []decodeRejection{
		// malformed
		{"empty input", ``, ReasonMalformed, "payload: not valid JSON: unexpected end of JSON input"},
		{"garbage", `hello`, ReasonMalformed, "payload: not valid JSON: invalid character 'h' looking for beginning of value"},
		{"truncated", `{"v":1,"id":"a"`, ReasonMalformed, "payload: not valid JSON: unexpected end of JSON input"},
		{"trailing data", `{"v":1} {}`, ReasonMalformed, "payload: not valid JSON: invalid character '{' after top-level value"},
		{"array", `[1,2]`, ReasonMalformed, "payload: want a JSON object, got array"},
		{"string", `"v"`, ReasonMalformed, "payload: want a JSON object, got string"},
		{"null", `null`, ReasonMalformed, "payload: want a JSON object, got null"},
		{"v string", `{"v":"1","id":"a","app_id":"b","events":` + ev + `}`, ReasonMalformed, `payload: "v": want an integer, got string`},
		{"v float", `{"v":1.0,"id":"a","app_id":"b","events":` + ev + `}`, ReasonMalformed, `payload: "v": want an integer, got 1.0`},
		{"v overflows", `{"v":99999999999999999999,"id":"a"}`, ReasonMalformed, `payload: "v": want an integer, got 99999999999999999999`},
		{"id number", `{"v":1,"id":5,"app_id":"b","events":` + ev + `}`, ReasonMalformed, `payload: "id": want a string, got 5`},
		{"app_id object", `{"v":1,"id":"a","app_id":{},"events":` + ev + `}`, ReasonMalformed, `payload: "app_id": want a string, got object`},
		{"events object", `{"v":1,"id":"a","app_id":"b","events":{"name":"x"}}`, ReasonMalformed, `payload: "events": want an array, got object`},
		{"event not object", `{"v":1,"id":"a","app_id":"b","events":[{"name":"x"},"y"]}`, ReasonMalformed, `payload: events[1]: want a JSON object, got string`},
		{"event null", `{"v":1,"id":"a","app_id":"b","events":[null]}`, ReasonMalformed, `payload: events[0]: want a JSON object, got null`},
		{"event field type", `{"v":1,"id":"a","app_id":"b","events":[{"name":"x"},{"name":"y"},{"name":"z","time_ms":"now"}]}`, ReasonMalformed, `payload: events[2]: "time_ms": want an integer, got string`},
		{"targets string", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"targets":"wh"}`, ReasonMalformed, `payload: "targets": want an array of strings, got string`},
		{"targets numbers", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"targets":[1]}`, ReasonMalformed, `payload: "targets": want an array of strings, got array`},
		{"attempt float", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"attempt":1.5}`, ReasonMalformed, `payload: "attempt": want an integer, got 1.5`},
		{"not_before string", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"not_before":"soon"}`, ReasonMalformed, `payload: "not_before": want an integer, got string`},

		// Sockudo jobs, detected before anything else
		{"sockudo job", `{"app_id":"a","app_key":"k","app_secret":"s","payload":{"time_ms":1,"events":[]},"original_signature":"x"}`, ReasonSockudoJob, `payload: "app_secret" key: a Sockudo queue job, not a Hookline envelope`},
		{"sockudo payload only", `{"payload":{}}`, ReasonSockudoJob, `payload: "payload" key: a Sockudo queue job, not a Hookline envelope`},
		{"sockudo secret beats future v", `{"v":9,"app_secret":"s"}`, ReasonSockudoJob, `payload: "app_secret" key: a Sockudo queue job, not a Hookline envelope`},
		{"sockudo secret beats bad v", `{"v":"x","app_secret":null}`, ReasonSockudoJob, `payload: "app_secret" key: a Sockudo queue job, not a Hookline envelope`},

		// unsupported versions
		{"v missing", `{"id":"a","app_id":"b","events":` + ev + `}`, ReasonUnsupportedVersion, `payload: missing "v"`},
		{"v null", `{"v":null,"id":"a","app_id":"b","events":` + ev + `}`, ReasonUnsupportedVersion, `payload: missing "v"`},
		{"v zero", `{"v":0,"id":"a","app_id":"b","events":` + ev + `}`, ReasonUnsupportedVersion, `payload: "v": 0 is not a version`},
		{"v negative", `{"v":-3,"id":"a","app_id":"b","events":` + ev + `}`, ReasonUnsupportedVersion, `payload: "v": -3 is not a version`},
		{"empty object", `{}`, ReasonUnsupportedVersion, `payload: missing "v"`},
		{"V uppercase is not v", `{"V":1,"id":"a","app_id":"b","events":` + ev + `}`, ReasonUnsupportedVersion, `payload: missing "v"`},

		// future versions: checked before the rest of the shape
		{"v 2", `{"v":2,"id":"a","app_id":"b","events":` + ev + `}`, "", "payload: envelope version newer than supported: v 2, this build reads up to 1"},
		{"v 2 other shape", `{"v":2,"batches":[]}`, "", "payload: envelope version newer than supported: v 2, this build reads up to 1"},

		// invalid
		{"id missing", `{"v":1,"app_id":"b","events":` + ev + `}`, ReasonInvalid, `payload: missing "id"`},
		{"id empty", `{"v":1,"id":"","app_id":"b","events":` + ev + `}`, ReasonInvalid, `payload: missing "id"`},
		{"id too long", `{"v":1,"id":"` + long + `","app_id":"b","events":` + ev + `}`, ReasonInvalid, `payload: "id": 129 bytes, limit 128`},
		{"id with newline", `{"v":1,"id":"a\nb","app_id":"b","events":` + ev + `}`, ReasonInvalid, `payload: "id": byte 1 is 0x0a; want printable ASCII without spaces`},
		{"id non-ascii", `{"v":1,"id":"é","app_id":"b","events":` + ev + `}`, ReasonInvalid, `payload: "id": byte 0 is 0xc3; want printable ASCII without spaces`},
		{"app_id missing", `{"v":1,"id":"a","events":` + ev + `}`, ReasonInvalid, `payload: missing "app_id"`},
		{"app_id null", `{"v":1,"id":"a","app_id":null,"events":` + ev + `}`, ReasonInvalid, `payload: missing "app_id"`},
		{"events missing", `{"v":1,"id":"a","app_id":"b"}`, ReasonInvalid, `payload: "events": empty`},
		{"events empty", `{"v":1,"id":"a","app_id":"b","events":[]}`, ReasonInvalid, `payload: "events": empty`},
		{"event without name", `{"v":1,"id":"a","app_id":"b","events":[{"name":"a"},{"name":"b"},{"name":"c"},{"channel":"x"}]}`, ReasonInvalid, `payload: events[3]: missing "name"`},
		{"event empty name", `{"v":1,"id":"a","app_id":"b","events":[{"name":""}]}`, ReasonInvalid, `payload: events[0]: missing "name"`},
		{"event negative time", `{"v":1,"id":"a","app_id":"b","events":[{"name":"x","time_ms":-1}]}`, ReasonInvalid, `payload: events[0]: "time_ms": negative (-1)`},
		{"attempt negative", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"attempt":-1}`, ReasonInvalid, `payload: "attempt": negative (-1)`},
		{"first_attempt negative", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"first_attempt_ms":-5}`, ReasonInvalid, `payload: "first_attempt_ms": negative (-5)`},
		{"not_before negative", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"not_before":-5}`, ReasonInvalid, `payload: "not_before": negative (-5)`},
		{"target empty", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"targets":["wh",""]}`, ReasonInvalid, `payload: targets[1]: empty`},
		{"target duplicate", `{"v":1,"id":"a","app_id":"b","events":` + ev + `,"targets":["wh","x","wh"]}`, ReasonInvalid, `payload: targets[2]: duplicate "wh"`},
	}
}

func TestDecodeClassification(t *testing.T) {
	for _, tt := range decodeRejections() {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode = %+v, nil error; want %q", e, tt.err)
			}
			if e != nil {
				t.Errorf("Decode returned an envelope with an error")
			}
			if err.Error() != tt.err {
				t.Errorf("error\n got %q\nwant %q", err, tt.err)
			}
			var de *DecodeError
			isDE := errors.As(err, &de)
			if tt.reason == "" {
				if !errors.Is(err, ErrFutureVersion) {
					t.Errorf("errors.Is(err, ErrFutureVersion) = false")
				}
				if isDE {
					t.Errorf("future version is a *DecodeError (%s); it must not be dead-lettered", de.Reason)
				}
				return
			}
			if errors.Is(err, ErrFutureVersion) {
				t.Errorf("errors.Is(err, ErrFutureVersion) = true for %s", tt.reason)
			}
			if !isDE {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			if de.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", de.Reason, tt.reason)
			}
		})
	}
}

// decodeAcceptance is an input Decode (and DecodeRaw) must accept.
type decodeAcceptance struct {
	name string
	in   string
	want *Envelope
}

func decodeAcceptances() []decodeAcceptance {
	return []decodeAcceptance{
		{
			"minimal",
			`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}]}`,
			&Envelope{V: 1, ID: "a", AppID: "b", Events: []Event{{Name: "x"}}},
		},
		{
			"unknown top-level keys ignored",
			`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"future_hint":{"x":1}}`,
			&Envelope{V: 1, ID: "a", AppID: "b", Events: []Event{{Name: "x"}}},
		},
		{
			"empty targets normalised to nil",
			`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":[]}`,
			&Envelope{V: 1, ID: "a", AppID: "b", Events: []Event{{Name: "x"}}},
		},
		{
			"nulls are absent",
			`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":null,"attempt":null,"first_attempt_ms":null,"not_before":null}`,
			&Envelope{V: 1, ID: "a", AppID: "b", Events: []Event{{Name: "x"}}},
		},
		{
			"id of exactly 128 printable bytes",
			`{"v":1,"id":"` + strings.Repeat("~", 128) + `","app_id":"b","events":[{"name":"x"}]}`,
			&Envelope{V: 1, ID: strings.Repeat("~", 128), AppID: "b", Events: []Event{{Name: "x"}}},
		},
		{
			"data object normalised at decode",
			`{"v":1,"id":"a","app_id":"b","events":[{"name":"client_event","data":{"k":"v"}}]}`,
			&Envelope{V: 1, ID: "a", AppID: "b", Events: []Event{{Name: "client_event", Data: `{"k":"v"}`}}},
		},
		{
			"whitespace everywhere",
			" \n{ \"v\" : 1 , \"id\":\"a\",\"app_id\":\"b\",\"events\":[ {\"name\":\"x\"} ] }\n",
			&Envelope{V: 1, ID: "a", AppID: "b", Events: []Event{{Name: "x"}}},
		},
	}
}

func TestDecodeAccepts(t *testing.T) {
	for _, tt := range decodeAcceptances() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestEncodeValidates(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Envelope)
		err    string
	}{
		{"v zero", func(e *Envelope) { e.V = 0 }, `payload: "v": 0, want 1`},
		{"v future", func(e *Envelope) { e.V = 2 }, `payload: "v": 2, want 1`},
		{"no id", func(e *Envelope) { e.ID = "" }, `payload: missing "id"`},
		{"space in id", func(e *Envelope) { e.ID = "a b" }, `payload: "id": byte 1 is 0x20; want printable ASCII without spaces`},
		{"no app", func(e *Envelope) { e.AppID = "" }, `payload: missing "app_id"`},
		{"nil events", func(e *Envelope) { e.Events = nil }, `payload: "events": empty`},
		{"nameless event", func(e *Envelope) { e.Events[2].Name = "" }, `payload: events[2]: missing "name"`},
		{"negative attempt", func(e *Envelope) { e.Attempt = -2 }, `payload: "attempt": negative (-2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEnvelope()
			tt.mutate(e)
			b, err := Encode(e)
			if err == nil {
				t.Fatalf("Encode = %s, nil error", b)
			}
			if err.Error() != tt.err {
				t.Errorf("error\n got %q\nwant %q", err, tt.err)
			}
		})
	}
	if _, err := Encode(nil); err == nil || err.Error() != "payload: nil envelope" {
		t.Errorf("Encode(nil) error = %v", err)
	}
}

func TestEncodeNoTrailingNewlineNoHTMLEscape(t *testing.T) {
	e := &Envelope{V: 1, ID: "a", AppID: "<app&>", Events: []Event{{Name: "n", Channel: "<c>"}}}
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"id":"a","app_id":"<app&>","events":[{"name":"n","channel":"<c>"}]}`
	if string(b) != want {
		t.Fatalf("Encode =\n%s\nwant\n%s", b, want)
	}
}

func TestDecodeErrorWithoutErr(t *testing.T) {
	e := &DecodeError{Reason: ReasonInvalid}
	if e.Error() != "payload: invalid-envelope" {
		t.Fatalf("Error() = %q", e.Error())
	}
	if e.Unwrap() != nil {
		t.Fatal("Unwrap() != nil")
	}
}
