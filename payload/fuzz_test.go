package payload

import (
	"errors"
	"reflect"
	"testing"
)

// fuzzSeeds seed FuzzDecode and FuzzDecodeRawMatchesDecode.
func fuzzSeeds() []string {
	return []string{
		`{"v":1,"id":"01HV4Z9Q8W","app_id":"app-1","events":[{"name":"member_added","channel":"presence-chat","user_id":"u1","time_ms":1678886400100}]}`,
		`{"v":1,"id":"r","app_id":"a","events":[{"name":"client_event","data":{"x":[1,2]},"extra":{"k":null}}],"targets":["wh1","wh2"],"attempt":3,"first_attempt_ms":10,"not_before":20}`,
		`{"v":1,"id":"s","app_id":"a","events":[{"name":"subscription_count","subscription_count":0,"Name":"x","a\"b":"\u2028<>"}]}`,
		`{"app_id":"a","app_key":"k","app_secret":"s","payload":{"time_ms":1,"events":[{"name":"channel_occupied","channel":"c"}]},"original_signature":"x"}`,
		`{"v":2,"id":"a","app_id":"b","events":[]}`,
		`{"v":0}`,
		`{"v":1.0}`,
		`{"v":1,"id":"a","app_id":"b","events":[null]}`,
		`null`,
		`[]`,
		`garbage`,
		"\xff\xfe",
		``,
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.Is(err, ErrFutureVersion) && !errors.As(err, &de) {
				t.Fatalf("Decode error %T %v is neither ErrFutureVersion nor *DecodeError", err, err)
			}
			if de != nil {
				switch de.Reason {
				case ReasonMalformed, ReasonUnsupportedVersion, ReasonSockudoJob, ReasonInvalid:
				default:
					t.Fatalf("unknown reason %q", de.Reason)
				}
			}
			return
		}
		out, err := Encode(e)
		if err != nil {
			t.Fatalf("Decode succeeded but Encode failed: %v\ninput: %q", err, b)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("Decode(Encode(e)) failed: %v\nencoded: %s", err, out)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip changed the envelope:\n got %#v\nwant %#v\nencoded: %s", again, e, out)
		}
		out2, err := Encode(again)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, out2)
		}
	})
}
