package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hookline/hookline/signing"
)

const (
	testSecret = "secret"
	// pusherBody is a body as Hookline builds it: compact, one member_added event.
	pusherBody = `{"time_ms":1700000000000,"events":[{"name":"member_added","channel":"presence-room","user_id":"42","time_ms":1699999999000,"id":"env-1:0"}]}`
	// spacedBody is a valid body that re-marshalling would change (spaces, key order).
	spacedBody = `{ "events": [ {"name": "channel_occupied", "channel": "room-1"}, {"name": "channel_vacated", "channel": "room-1"} ], "time_ms": 1 }`
)

// soketi wraps body the way Hookline's "soketi" payload format does, signed with secret.
func soketi(body, signature string) string {
	return `{"payload":` + body + `,"headers":{"X-Pusher-Key":"key","X-Pusher-Signature":"` + signature + `"}}`
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		in      string
		want    int      // Received, when wantErr is ""
		lines   []string // expected stdout lines
		wantErr string   // substring of the error; "" = success
	}{
		{
			name:  "pusher shape",
			in:    pusherBody,
			want:  1,
			lines: []string{"hookline-event name=member_added channel=presence-room id=env-1:0 user_id=42"},
		},
		{
			name:   "pusher shape, secret set: nothing to verify",
			secret: testSecret,
			in:     pusherBody,
			want:   1,
			lines:  []string{"hookline-event name=member_added channel=presence-room id=env-1:0 user_id=42"},
		},
		{
			name: "pusher shape, no events",
			in:   `{"time_ms":1,"events":[]}`,
			want: 0,
		},
		{
			name:  "pusher shape, values needing quotes",
			in:    `{"time_ms":1,"events":[{"name":"client_event","channel":"private-a","user_id":"a b=\"c\"\n"}]}`,
			want:  1,
			lines: []string{`hookline-event name=client_event channel=private-a id= user_id="a b=\"c\"\n"`},
		},
		{
			name:  "soketi shape, no secret",
			in:    soketi(pusherBody, "not-checked"),
			want:  1,
			lines: []string{"hookline-event name=member_added channel=presence-room id=env-1:0 user_id=42"},
		},
		{
			name:   "soketi shape, signature over the exact payload bytes",
			secret: testSecret,
			in:     soketi(spacedBody, signing.Sign(testSecret, []byte(spacedBody))),
			want:   2,
			lines: []string{
				"hookline-event name=channel_occupied channel=room-1 id= user_id=",
				"hookline-event name=channel_vacated channel=room-1 id= user_id=",
			},
		},
		{
			name:   "soketi shape, lowercase header name",
			secret: testSecret,
			in:     `{"headers":{"x-pusher-signature":"` + signing.Sign(testSecret, []byte(pusherBody)) + `"},"payload":` + pusherBody + `}`,
			want:   1,
			lines:  []string{"hookline-event name=member_added channel=presence-room id=env-1:0 user_id=42"},
		},
		{
			name:    "soketi shape, signature of the re-marshalled payload",
			secret:  testSecret,
			in:      soketi(spacedBody, signing.Sign(testSecret, compact(spacedBody))),
			wantErr: "X-Pusher-Signature does not match",
		},
		{
			name:    "soketi shape, wrong secret",
			secret:  "thisisasecret",
			in:      soketi(pusherBody, signing.Sign(testSecret, []byte(pusherBody))),
			wantErr: "X-Pusher-Signature does not match",
		},
		{
			name:    "soketi shape, no headers",
			secret:  testSecret,
			in:      `{"payload":` + pusherBody + `}`,
			wantErr: "X-Pusher-Signature does not match",
		},
		{name: "not JSON", in: `{"time_ms":1,`, wantErr: "not a JSON object"},
		{name: "array", in: `[` + pusherBody + `]`, wantErr: "not a JSON object"},
		{name: "null", in: `null`, wantErr: "not a JSON object"},
		{name: "string", in: `"hello"`, wantErr: "not a JSON object"},
		{name: "empty object", in: `{}`, wantErr: `missing "time_ms"`},
		{name: "events not an array", in: `{"time_ms":1,"events":{}}`, wantErr: `"events": want an array`},
		{name: "event without name", in: `{"time_ms":1,"events":[{"channel":"a"}]}`, wantErr: `events[0]: missing "name"`},
		{name: "time_ms not a number", in: `{"time_ms":"1","events":[]}`, wantErr: "time_ms"},
		{name: "soketi shape, payload null", in: `{"payload":null,"headers":{}}`, wantErr: `"payload"`},
		{name: "soketi shape, payload a string", in: `{"payload":"` + strings.ReplaceAll(pusherBody, `"`, `\"`) + `"}`, wantErr: `"payload"`},
		{name: "soketi shape, header not a string", in: `{"payload":` + pusherBody + `,"headers":{"X-Pusher-Key":1}}`, wantErr: "soketi shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			h := &handler{secret: tt.secret, out: &out}
			got, err := h.handle(context.Background(), json.RawMessage(tt.in))
			if tt.wantErr != "" {
				var pe *PayloadError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handle() error = %v, want a *PayloadError containing %q", err, tt.wantErr)
				}
				if out.Len() != 0 {
					t.Errorf("logged %q for a rejected payload", out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("handle() error = %v", err)
			}
			if got.Received != tt.want {
				t.Errorf("Received = %d, want %d", got.Received, tt.want)
			}
			var lines []string
			if s := strings.TrimSuffix(out.String(), "\n"); s != "" {
				lines = strings.Split(s, "\n")
			}
			if strings.Join(lines, "\n") != strings.Join(tt.lines, "\n") {
				t.Errorf("stdout lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tt.lines, "\n"))
			}
		})
	}
}

// TestResponseJSON pins the result's JSON, which is the function's response payload.
func TestResponseJSON(t *testing.T) {
	b, err := json.Marshal(Response{Received: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"received":3}`; got != want {
		t.Errorf("Response JSON = %s, want %s", got, want)
	}
}

func compact(s string) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.Bytes()
}
