package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// diffRaw checks DecodeRaw against Decode on in, and everything the raw
// path promises about an accepted envelope.
func diffRaw(in []byte) error {
	want, werr := Decode(in)
	got, gerr := DecodeRaw(in)
	if (werr == nil) != (gerr == nil) {
		return fmt.Errorf("Decode error %v, DecodeRaw error %v", werr, gerr)
	}
	if werr != nil {
		if got != nil {
			return errors.New("DecodeRaw returned an envelope with an error")
		}
		if errors.Is(werr, ErrFutureVersion) != errors.Is(gerr, ErrFutureVersion) {
			return fmt.Errorf("ErrFutureVersion: Decode %v, DecodeRaw %v", werr, gerr)
		}
		var wde, gde *DecodeError
		if errors.As(werr, &wde) != errors.As(gerr, &gde) || (wde != nil && wde.Reason != gde.Reason) {
			return fmt.Errorf("classification: Decode %#v, DecodeRaw %#v", werr, gerr)
		}
		if werr.Error() != gerr.Error() {
			return fmt.Errorf("error text\n Decode    %s\n DecodeRaw %s", werr, gerr)
		}
		return nil
	}

	if got.V != want.V || got.ID != want.ID || got.AppID != want.AppID || !reflect.DeepEqual(got.Targets, want.Targets) ||
		got.Attempt != want.Attempt || got.FirstAttemptMS != want.FirstAttemptMS || got.NotBeforeMS != want.NotBeforeMS {
		return fmt.Errorf("envelope fields\n Decode    %+v\n DecodeRaw %+v", want, got)
	}
	if len(got.Events) != len(want.Events) {
		return fmt.Errorf("%d events, Decode has %d", len(got.Events), len(want.Events))
	}
	for i := range got.Events {
		r, w := &got.Events[i], &want.Events[i]
		ev, err := r.Event()
		if err != nil {
			return fmt.Errorf("events[%d].Event(): %v\nJSON %s", i, err, r.JSON)
		}
		if !reflect.DeepEqual(ev, *w) {
			return fmt.Errorf("events[%d]\n Event() %#v\n Decode  %#v\n JSON %s", i, ev, *w, r.JSON)
		}
		if r.Name != w.Name || r.Channel != w.Channel || r.ID != w.ID || r.TimeMS != w.TimeMS {
			return fmt.Errorf("events[%d] fields: %q %q %q %d, Decode %q %q %q %d", i, r.Name, r.Channel, r.ID, r.TimeMS, w.Name, w.Channel, w.ID, w.TimeMS)
		}
		if err := checkEventJSON(r.JSON); err != nil {
			return fmt.Errorf("events[%d]: %v: %s", i, err, r.JSON)
		}
		if n := len(AppendEvent(nil, r)); n != r.Size() {
			return fmt.Errorf("events[%d]: Size %d, AppendEvent wrote %d", i, r.Size(), n)
		}
		mj, _ := w.MarshalJSON()
		if EventSize(w) != len(mj) {
			return fmt.Errorf("events[%d]: EventSize %d, MarshalJSON %d bytes", i, EventSize(w), len(mj))
		}
	}
	if err := diffBody(got, want, false); err != nil {
		return err
	}
	if err := diffBody(got, want, true); err != nil {
		return err
	}

	out, err := AppendEnvelope(nil, got)
	if err != nil {
		return fmt.Errorf("AppendEnvelope: %v", err)
	}
	again, err := Decode(out)
	if err != nil {
		return fmt.Errorf("Decode(AppendEnvelope): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(again, want) {
		return fmt.Errorf("Decode(AppendEnvelope) changed the envelope\n got  %#v\n want %#v\n%s", again, want, out)
	}
	rawAgain, err := DecodeRaw(out)
	if err != nil {
		return fmt.Errorf("DecodeRaw(AppendEnvelope): %v\n%s", err, out)
	}
	if len(rawAgain.Extra) != len(got.Extra) {
		return fmt.Errorf("DecodeRaw(AppendEnvelope) extra %q, want %q", rawAgain.Extra, got.Extra)
	}
	for i := range got.Extra {
		// AppendEnvelope writes ASCII for SQS: the value is the same JSON,
		// with its non-ASCII characters escaped.
		if rawAgain.Extra[i].Key != got.Extra[i].Key || !bytes.Equal(rawAgain.Extra[i].Value, toASCII(got.Extra[i].Value)) {
			return fmt.Errorf("DecodeRaw(AppendEnvelope) extra %q, want %q", rawAgain.Extra, got.Extra)
		}
	}
	if out2, _ := AppendEnvelope(nil, rawAgain); !bytes.Equal(out2, out) {
		// The events may have been re-encoded (an event "id" sends the
		// event down the slow path), but then only once.
		if out3, _ := AppendEnvelope(nil, mustDecodeRaw(out2)); !bytes.Equal(out3, out2) {
			return fmt.Errorf("AppendEnvelope is not stable:\n%s\n%s\n%s", out, out2, out3)
		}
	}

	if len(want.Targets) == 0 && want.Attempt == 0 && want.FirstAttemptMS == 0 && want.NotBeforeMS == 0 {
		enc, _ := Encode(want)
		n := EnvelopeOverhead(want.ID, want.AppID) + len(want.Events) - 1
		for i := range want.Events {
			n += EventSize(&want.Events[i])
		}
		if n != len(enc) {
			return fmt.Errorf("EnvelopeOverhead+EventSize = %d, Encode wrote %d bytes", n, len(enc))
		}
	}
	return nil
}

func mustDecodeRaw(b []byte) *RawEnvelope {
	e, err := DecodeRaw(b)
	if err != nil {
		panic(err)
	}
	return e
}

// diffBody checks AppendBody against EncodeBody, with the events' own ids
// or, when setIDs, with delivery ids as the worker gives them.
func diffBody(got *RawEnvelope, want *Envelope, setIDs bool) error {
	raws := append([]RawEvent(nil), got.Events...)
	evs := append([]Event(nil), want.Events...)
	if setIDs {
		for i := range raws {
			id := got.ID + ":" + strconv.Itoa(i)
			raws[i].ID, evs[i].ID = id, id
		}
	}
	const timeMS = 1678886460000
	body := AppendBody(nil, timeMS, raws)
	if n := BodySize(timeMS, raws); n != len(body) {
		return fmt.Errorf("BodySize %d, AppendBody wrote %d", n, len(body))
	}
	sum := 0
	for i := range raws {
		sum += raws[i].Size()
	}
	if BodyOverhead(timeMS)+sum+len(raws)-1 != len(body) {
		return fmt.Errorf("BodyOverhead %d does not add up to %d", BodyOverhead(timeMS), len(body))
	}
	decoded, err := DecodeBody(body)
	if err != nil {
		return fmt.Errorf("DecodeBody(AppendBody): %v\n%s", err, body)
	}
	enc, err := EncodeBody(timeMS, evs)
	if err != nil {
		return fmt.Errorf("EncodeBody: %v", err)
	}
	wantBody, err := DecodeBody(enc)
	if err != nil {
		return fmt.Errorf("DecodeBody(EncodeBody): %v", err)
	}
	if !reflect.DeepEqual(decoded, wantBody) {
		return fmt.Errorf("AppendBody decodes to\n %#v\nEncodeBody to\n %#v\n%s\n%s", decoded, wantBody, body, enc)
	}
	if !reflect.DeepEqual(decoded.Events, evs) {
		return fmt.Errorf("AppendBody decodes to\n %#v\nwant\n %#v", decoded.Events, evs)
	}
	return nil
}

// checkEventJSON checks RawEvent.JSON's promises: a compact object, a
// string "data" if any, no "id".
func checkEventJSON(j []byte) error {
	var c bytes.Buffer
	if err := json.Compact(&c, j); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	if !bytes.Equal(c.Bytes(), j) {
		return errors.New("not compact")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(j, &m); err != nil || m == nil {
		return errors.New("not an object")
	}
	if _, ok := m["id"]; ok {
		return errors.New(`has an "id"`)
	}
	if d, ok := m["data"]; ok && d[0] != '"' {
		return errors.New(`"data" is not a string`)
	}
	return nil
}

func env1(events string) string {
	return `{"v":1,"id":"a","app_id":"b","events":[` + events + `]}`
}

// rawAdversarial are inputs aimed at the raw scanner's shortcuts.
var rawAdversarial = []string{
	// escaped and odd keys
	`{"\u0076":1,"id":"a","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":1,"i\u0064":"a","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":1,"id":"a","app_id":"b","\u0065vents":[{"name":"x"}]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"app\u005fsecret":1}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"\u0070ayload":null}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"\xff":1,"\xfe":2,"é":[ 1 , 2 ]}`,
	env1(`{"na\u006de":"x"}`),
	env1(`{"name":"x","d\u0061ta":{"a":1}}`),
	env1(`{"name":"x","\u0044ata":1}`),
	env1(`{"name":"x","ſocket_id":"1"}`),      // folds to socket_id (U+017F)
	env1(`{"name":"x","\u017focket_id":"1"}`), // the same, escaped
	env1(`{"name":"x","\u212aey":"1"}`),       // Kelvin sign: folds to k, not a known key
	env1(`{"name":"x","time_mſ":1}`),
	env1(`{"name":"x","NaMe":"y"}`),
	env1(`{"name":"x","user_Id":"y"}`),
	env1(`{"name":"x","user` + "\x7f" + `id":"y"}`),
	env1(`{"name":"x","nam":"y","names":"z"}`),
	// duplicates
	env1(`{"name":"x","name":"y"}`),
	env1(`{"name":"x","name":null}`),
	env1(`{"name":"x","data":{"a":1},"data":"s"}`),
	env1(`{"name":"x","data":"s","data":{"a":1}}`),
	env1(`{"name":"x","u":1,"u":2}`),
	env1(`{"name":"x","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10}`),
	`{"v":1,"id":"a","app_id":"b","events":[{"name":5}],"events":[{"name":"x"}]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"events":null}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"events":{}}`,
	`{"v":2,"v":1,"id":"a","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":1,"id":5,"id":"a","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"u":1,"u":[2]}`,
	// strings
	env1(`{"name":"x","data":"\ud800"}`),
	env1(`{"name":"x","data":"\udc00\ud800"}`),
	env1(`{"name":"x","data":"\ud83d\ude00"}`),
	env1(`{"name":"x","data":"\ud83d\u0041"}`),
	env1(`{"name":"x","data":"\ud83d"}`),
	env1(`{"name":"\ud83d\ude00","channel":"\ud800x"}`),
	env1(`{"name":"x","data":"` + "\xff" + `"}`),
	env1(`{"name":"` + "\xc3\x28" + `"}`),
	env1(`{"name":"x","channel":"` + "\xed\xa0\x80" + `"}`),
	env1(`{"name":"x","u":"` + "\xff" + `"}`),
	env1(`{"name":"é\u00e9\n\t\"\\\/\b\f\r","channel":"\u2028<&>"}`),
	env1(`{"name":"x","data":"a` + "\x01" + `"}`),
	env1(`{"name":"x","data":"\x"}`),
	env1(`{"name":"x","data":"\u12"}`),
	env1(`{"name":"x","data":"\u12G4"}`),
	env1(`{"name":"x","data":"\'"}`),
	`{"v":1,"id":"\u0061","app_id":"\ud800","events":[{"name":"x"}]}`,
	`{"v":1,"id":"a` + "\xff" + `","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":1,"id":"a","app_id":"` + "\xff" + `","events":[{"name":"x"}],"targets":["\u0077h","` + "\xfe" + `"]}`,
	// data and other values
	env1(`{"name":"x","data":null}`),
	env1(`{"name":"x","data":1.50}`),
	env1(`{"name":"x","data":[ 1 ]}`),
	env1(`{"name":"x","data":""}`),
	env1(`{"name":"x","id":null}`),
	env1(`{"name":"x","id":""}`),
	env1(`{"name":"x","id":"e:0"}`),
	env1(`{"name":"x","channel":null,"event":null,"socket_id":null,"user_id":null,"time_ms":null,"subscription_count":null}`),
	env1(`{"name":null}`),
	env1(`{}`),
	env1(`{"name":"x","time_ms":-0}`),
	env1(`{"name":"x","time_ms":-1}`),
	env1(`{"name":"x","time_ms":9223372036854775807}`),
	env1(`{"name":"x","time_ms":9223372036854775808}`),
	env1(`{"name":"x","subscription_count":-9223372036854775808}`),
	env1(`{"name":"x","subscription_count":-9223372036854775809}`),
	env1(`{"name":"x","time_ms":1e3}`),
	env1(`{"name":"x","time_ms":true}`),
	env1(`{"name":"x","time_ms":01}`),
	env1(`{"name":"x","u":01}`),
	env1(`{"name":"x","u":-}`),
	env1(`{"name":"x","u":1.}`),
	env1(`{"name":"x","u":.1}`),
	env1(`{"name":"x","u":1e}`),
	env1(`{"name":"x","u":1E+9,"w":-0.0e-0}`),
	env1(`{"name":"x","u":tru}`),
	env1(`{"name":"x","u":nul}`),
	env1(`{"name":"x","u":[1,]}`),
	env1(`{"name":"x","u":{"a":1,}}`),
	env1(`{"name":"x","u":{"a" 1}}`),
	env1(`{"name":"x","u":{"a":{"b":[{},[],"",0,true,false,null]}}}`),
	env1(`{"name":"x","u":[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]}`),
	env1(`{"name":"x",}`),
	env1(`{"name":"x"`),
	env1(`{"name":"x"}}`),
	env1(`{"name" :"x"}`),
	env1(`{"name": "x"}`),
	env1(`{"name":"x" }`),
	env1(` {"name":"x"} `),
	env1("{\"name\":\"x\",\n\"u\":1}"),
	env1(`{"name":"x","u":{ }}`),
	env1(`{"name":"x"},{"name":"y"},null,{"name":"z"}`),
	env1(`{"name":"x"},`),
	env1(`[]`),
	// top level
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"v":null}`,
	`{"v":-0,"id":"a","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":1e0,"id":"a","app_id":"b","events":[{"name":"x"}]}`,
	`{"v":true}`,
	`{"v":[1]}`,
	`{"v":9223372036854775807}`,
	`{"v":-9223372036854775809}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"attempt":9223372036854775808}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"attempt":true,"targets":5}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":[null,"a"]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":[ "a" , "b" ]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":["a",["b"]]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","a"]}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"targets":{}}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"x":{ "y" : [ 1 , "z" ] } , "y":"\u0041"}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"first_attempt_ms":-0,"not_before":0}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}]}` + " \t\r\n",
	"\xef\xbb\xbf" + `{"v":1}`,
	`{"v":1,}`,
	`{"v":1 "id":"a"}`,
	`{"v"}`,
	`{"v":}`,
	`{1:1}`,
	`{`,
	`}`,
	` `,
	`1`,
	`-`,
	`true`,
	`nul`,
	`"\ud800"`,
	`[{"v":1}]`,
	`{"v":1}x`,
	`{"v":1}{"v":1}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"deep":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
	`{"v":1,"id":"a","app_id":"b","events":[{"name":"x"}],"deep":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	env1(`{"name":"x","deep":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}`),
	env1(`{"name":"x","deep":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`),
}

// rawInputs is every table input: the rejection and acceptance tables of
// Decode and Event, the fuzz seeds and rawAdversarial.
func rawInputs(t testing.TB) []string {
	var ins []string
	for _, tt := range decodeRejections() {
		ins = append(ins, tt.in)
	}
	for _, tt := range decodeAcceptances() {
		ins = append(ins, tt.in)
	}
	for _, tt := range eventRejections() {
		ins = append(ins, env1(tt.in))
	}
	ins = append(ins, fuzzSeeds()...)
	ins = append(ins, rawAdversarial...)
	ins = append(ins, string(typicalEnvelope(3)))
	for _, name := range []string{"envelope.golden.json", "envelope-retry.golden.json", "body.golden.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, string(b))
	}
	return ins
}

func TestDecodeRawMatchesDecode(t *testing.T) {
	for i, in := range rawInputs(t) {
		if err := diffRaw([]byte(in)); err != nil {
			name := in
			if len(name) > 200 {
				name = name[:200] + "..."
			}
			t.Errorf("input %d %q:\n%v", i, name, err)
		}
	}
}

// Every rejection of Decode's and Event's tables is DecodeRaw's too, with
// the same reason and text.
func TestDecodeRawRejections(t *testing.T) {
	for _, tt := range decodeRejections() {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeRaw([]byte(tt.in))
			if err == nil || e != nil {
				t.Fatalf("DecodeRaw = %+v, %v; want %q", e, err, tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("error\n got %q\nwant %q", err, tt.err)
			}
			var de *DecodeError
			if tt.reason == "" {
				if !errors.Is(err, ErrFutureVersion) || errors.As(err, &de) {
					t.Errorf("want ErrFutureVersion and no *DecodeError, got %#v", err)
				}
				return
			}
			if !errors.As(err, &de) || de.Reason != tt.reason || errors.Is(err, ErrFutureVersion) {
				t.Errorf("error %#v, want reason %s", err, tt.reason)
			}
		})
	}
	for _, tt := range eventRejections() {
		t.Run(tt.in, func(t *testing.T) {
			_, err := DecodeRaw([]byte(env1(tt.in)))
			want := "payload: events[0]: " + strings.TrimPrefix(tt.err, "payload: event: ")
			var de *DecodeError
			if err == nil || err.Error() != want || !errors.As(err, &de) || de.Reason != ReasonMalformed {
				t.Errorf("DecodeRaw error %#v, want %s (%s)", err, want, ReasonMalformed)
			}
		})
	}
}

func TestDecodeRawFastPath(t *testing.T) {
	tests := []struct {
		name  string
		event string
		fast  bool   // JSON aliases the input
		json  string // when not fast
		want  RawEvent
	}{
		{"typical", `{"name":"client_event","channel":"private-room","event":"client-typing","data":"{\"user\":\"alice\"}","socket_id":"123.456","time_ms":1700000000000}`, true, "",
			RawEvent{Name: "client_event", Channel: "private-room", TimeMS: 1700000000000}},
		{"unknown keys kept in place", `{"zz":{"a":[1,null]},"name":"cache_miss","channel":"cache-x","aa":true}`, true, "",
			RawEvent{Name: "cache_miss", Channel: "cache-x"}},
		{"escaped name and channel unescaped", `{"name":"a\"b","channel":"\u00e9\n"}`, true, "",
			RawEvent{Name: `a"b`, Channel: "é\n"}},
		{"null fields kept", `{"name":"x","channel":null,"subscription_count":null}`, true, "",
			RawEvent{Name: "x"}},
		{"empty object", `{}`, true, "", RawEvent{}},
		{"id moves out", `{"name":"x","id":"e:1"}`, false, `{"name":"x"}`,
			RawEvent{Name: "x", ID: "e:1"}},
		{"object data becomes a string", `{"name":"client_event","data":{"a":1}}`, false, `{"name":"client_event","data":"{\"a\":1}"}`,
			RawEvent{Name: "client_event"}},
		{"null data dropped", `{"channel":"c","name":"x","data":null}`, false, `{"name":"x","channel":"c"}`,
			RawEvent{Name: "x", Channel: "c"}},
		{"whitespace re-encoded", `{"name": "x", "b":1, "a":2}`, false, `{"name":"x","a":2,"b":1}`,
			RawEvent{Name: "x"}},
		{"invalid UTF-8 replaced", `{"name":"x` + "\xff" + `"}`, false, `{"name":"x\ufffd"}`,
			RawEvent{Name: "x\ufffd"}},
		{"unpaired surrogate replaced", `{"name":"x","data":"\ud800"}`, false, `{"name":"x","data":"\ufffd"}`,
			RawEvent{Name: "x"}},
		{"duplicate key resolved", `{"name":"x","name":"y"}`, false, `{"name":"y"}`,
			RawEvent{Name: "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(`{"v":1,"id":"a","app_id":"b","events":[` + tt.event + `]}`)
			e, err := DecodeRaw(in)
			if tt.want.Name == "" { // not a valid envelope; look at the event alone
				var top rawTop
				s := scanner{b: in}
				if !s.top(&top) || len(top.events) != 1 || len(top.slow) != 0 {
					t.Fatalf("scan: %+v", top)
				}
				e, err = &RawEnvelope{Events: top.events}, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			got := e.Events[0]
			start := bytes.Index(in, []byte(tt.event))
			aliases := &got.JSON[0] == &in[start]
			if aliases != tt.fast {
				t.Errorf("JSON aliases the input: %v, want %v", aliases, tt.fast)
			}
			wantJSON := tt.json
			if tt.fast {
				wantJSON = tt.event
			}
			if string(got.JSON) != wantJSON {
				t.Errorf("JSON %s, want %s", got.JSON, wantJSON)
			}
			got.JSON = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("event %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		ev   RawEvent
		want string
	}{
		{RawEvent{JSON: []byte(`{"name":"x"}`)}, `{"name":"x"}`},
		{RawEvent{JSON: []byte(`{"name":"x"}`), ID: "e:0"}, `{"name":"x","id":"e:0"}`},
		{RawEvent{JSON: []byte(`{}`), ID: "e:0"}, `{"id":"e:0"}`},
		{RawEvent{ID: "e:0"}, ``}, // not an object: nothing to splice into
		{RawEvent{JSON: []byte(`{"name":"x"}`), ID: "a\"\\<\u2028\x01\xff"}, `{"name":"x","id":"a\"\\<\u2028\u0001\ufffd"}`},
	}
	for _, tt := range tests {
		got := AppendEvent([]byte("pre"), &tt.ev)
		if string(got) != "pre"+tt.want {
			t.Errorf("AppendEvent = %s, want pre%s", got, tt.want)
		}
		if tt.ev.Size() != len(tt.want) {
			t.Errorf("Size = %d, want %d", tt.ev.Size(), len(tt.want))
		}
	}
}

func TestAppendBodyMatchesEncodeBodyGolden(t *testing.T) {
	e := sampleEnvelope()
	raws := make([]RawEvent, len(e.Events))
	for i := range e.Events {
		e.Events[i].ID = e.ID + ":" + strconv.Itoa(i)
		r, err := ToRaw(e.Events[i])
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = r
	}
	// ToRaw's JSON is MarshalJSON's and the id goes last, as EncodeBody
	// writes it: the bytes are the golden body's.
	golden(t, "body.golden.json", AppendBody(nil, 1678886460000, raws))
	if allocs := testing.AllocsPerRun(100, func() {
		buf := make([]byte, 0, 4096)
		_ = AppendBody(buf, 1678886460000, raws)
	}); allocs != 0 {
		t.Errorf("AppendBody allocates %v times", allocs)
	}
}

func TestRawEventRoundTrip(t *testing.T) {
	var withExtra Event
	if err := json.Unmarshal([]byte(`{"name":"client_event","data":{"a":"<b>&é"},"zz":[1, 2],"subscription_count":3}`), &withExtra); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []Event{{Name: "x"}, {Name: "x", ID: "e:1", Channel: "c", TimeMS: 5}, withExtra} {
		r, err := ToRaw(ev)
		if err != nil {
			t.Fatal(err)
		}
		back, err := r.Event()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Errorf("ToRaw→Event = %#v, want %#v", back, ev)
		}
	}
	if _, err := (&RawEvent{JSON: []byte(`[]`)}).Event(); err == nil {
		t.Error("Event() of an array: nil error")
	}
}

func TestAppendEnvelope(t *testing.T) {
	in := `{"v":1,"id":"r","app_id":"a","events":[{"name":"x","id":"r:0"},{"name":"y","u":1}],"targets":["w1","w2"],"attempt":2,"first_attempt_ms":10,"not_before":20,"hint":{"k":[1,2]},"z":"\u0041"}`
	e, err := DecodeRaw([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendEnvelope(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"id":"r","app_id":"a","events":[{"name":"x","id":"r:0"},{"name":"y","u":1}],"targets":["w1","w2"],"attempt":2,"first_attempt_ms":10,"not_before":20,"hint":{"k":[1,2]},"z":"\u0041"}`
	if string(out) != want {
		t.Errorf("AppendEnvelope =\n%s\nwant\n%s", out, want)
	}

	bad := []struct {
		name   string
		mutate func(*RawEnvelope)
		err    string
	}{
		{"validates like Validate", func(e *RawEnvelope) { e.Events[1].Name = "" }, `payload: events[1]: missing "name"`},
		{"bad version", func(e *RawEnvelope) { e.V = 2 }, `payload: "v": 2, want 1`},
		{"dup target", func(e *RawEnvelope) { e.Targets = []string{"a", "a"} }, `payload: targets[1]: duplicate "a"`},
		{"event not an object", func(e *RawEnvelope) { e.Events[0].JSON = nil }, `payload: events[0]: JSON is not an object`},
		{"reserved extra key", func(e *RawEnvelope) { e.Extra = []RawField{{Key: "attempt", Value: []byte("1")}} }, `payload: extra[0]: key "attempt" is not an extra key`},
		{"sockudo extra key", func(e *RawEnvelope) { e.Extra = []RawField{{Key: "app_secret", Value: []byte("1")}} }, `payload: extra[0]: key "app_secret" is not an extra key`},
		{"invalid extra value", func(e *RawEnvelope) { e.Extra = []RawField{{Key: "x", Value: []byte("{")}} }, `payload: extra[0]: "x": not a JSON value`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := DecodeRaw([]byte(in))
			tt.mutate(e)
			out, err := AppendEnvelope([]byte("keep"), e)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %s", err, tt.err)
			}
			if string(out) != "keep" {
				t.Errorf("dst changed on error: %s", out)
			}
		})
	}
	if _, err := AppendEnvelope(nil, nil); err == nil {
		t.Error("AppendEnvelope(nil): nil error")
	}
}

func TestBodyOverhead(t *testing.T) {
	for _, ts := range []int64{0, 1, 9, 10, -1, 1678886460000, 1<<63 - 1, -1 << 63} {
		want := len(`{"time_ms":` + strconv.FormatInt(ts, 10) + `,"events":[]}`)
		if got := BodyOverhead(ts); got != want {
			t.Errorf("BodyOverhead(%d) = %d, want %d", ts, got, want)
		}
	}
}

func TestEventSizeAndEnvelopeOverhead(t *testing.T) {
	var withExtra Event
	if err := json.Unmarshal([]byte(`{"name":"client_event","data":{"a":"<b>&é"},"zz":[1, 2],"a\"b":null,"subscription_count":-3}`), &withExtra); err != nil {
		t.Fatal(err)
	}
	events := []Event{
		{Name: "x"},
		withExtra,
		{Name: "member_added", Channel: "presence-<é>", UserID: "u\"1", SocketID: "1.2", Event: "e", Data: "\u2029\t\x00\xff", TimeMS: 5, ID: "x:1", SubscriptionCount: i64(0)},
	}
	for _, ev := range append(events, Event{Name: "n", TimeMS: -5}) {
		b, _ := ev.MarshalJSON()
		if got := EventSize(&ev); got != len(b) {
			t.Errorf("EventSize = %d, MarshalJSON wrote %d: %s", got, len(b), b)
		}
	}
	for _, ids := range [][2]string{{"a", "b"}, {`x"\y`, "app \"q\" \\ <t> é \u2028 \x01 \xff"}, {strings.Repeat("f", 128), strings.Repeat("a", 300)}} {
		b, err := Encode(&Envelope{V: Version, ID: ids[0], AppID: ids[1], Events: events})
		if err != nil {
			t.Fatal(err)
		}
		n := EnvelopeOverhead(ids[0], ids[1]) + len(events) - 1
		for i := range events {
			n += EventSize(&events[i])
		}
		if n != len(b) {
			t.Errorf("%q: estimated %d, Encode wrote %d", ids, n, len(b))
		}
	}
}

// FuzzRawString checks the raw path's string helpers against encoding/json
// (marshal writes encoding/json's text made ASCII for SQS, so appendString
// is compared through appendASCII).
func FuzzRawString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\u2028\u2029", "\x00\x1f\x7f", "\xff\xc3(", "é😀", `\ud800`, "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := appendString(nil, s)
		if ascii := appendASCII(nil, got); string(ascii) != string(want) {
			t.Fatalf("appendASCII(appendString(%q)) = %s, want %s", s, ascii, want)
		}
		if stringLen(s) != len(got) {
			t.Fatalf("stringLen(%q) = %d, appendString wrote %d", s, stringLen(s), len(got))
		}
		if asciiStringLen(s) != len(want) {
			t.Fatalf("asciiStringLen(%q) = %d, want %d", s, asciiStringLen(s), len(want))
		}
		// unquote of arbitrary JSON string text, when it is one
		q := []byte(`"` + s + `"`)
		var u string
		jerr := json.Unmarshal(q, &u)
		sc := scanner{b: q}
		_, ok := sc.str()
		ok = ok && sc.pos == len(q)
		if ok != (jerr == nil) {
			t.Fatalf("scanner accepts %q: %v; encoding/json: %v", q, ok, jerr)
		}
		if ok && unquote(q[1:len(q)-1]) != u {
			t.Fatalf("unquote(%q) = %q, want %q", q, unquote(q[1:len(q)-1]), u)
		}
	})
}

func FuzzDecodeRawMatchesDecode(f *testing.F) {
	for _, s := range rawInputs(f) {
		if len(s) <= 4096 { // the deep-nesting rows only slow the fuzzer down
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := diffRaw(b); err != nil {
			t.Fatalf("%v\ninput: %q", err, b)
		}
	})
}

// typicalEnvelope is a producer-written envelope of n client events.
func typicalEnvelope(n int) []byte {
	e := &Envelope{V: Version, ID: "01HV4Z9Q8W0000000000000000", AppID: "app-1"}
	for i := range n {
		e.Events = append(e.Events, Event{
			Name: EventClientEvent, Channel: "private-room", Event: "client-typing",
			Data: `{"user":"alice"}`, SocketID: "123.456", TimeMS: 1700000000000 + int64(i),
		})
	}
	b, err := Encode(e)
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkDecode(b *testing.B) {
	in := typicalEnvelope(100)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRaw(b *testing.B) {
	in := typicalEnvelope(100)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRaw(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBody(b *testing.B) {
	e, err := Decode(typicalEnvelope(100))
	if err != nil {
		b.Fatal(err)
	}
	for i := range e.Events {
		e.Events[i].ID = e.ID + ":" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeBody(1700000001000, e.Events); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBody(b *testing.B) {
	e, err := DecodeRaw(typicalEnvelope(100))
	if err != nil {
		b.Fatal(err)
	}
	for i := range e.Events {
		e.Events[i].ID = e.ID + ":" + strconv.Itoa(i)
	}
	buf := make([]byte, 0, BodySize(1700000001000, e.Events))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBody(buf[:0], 1700000001000, e.Events)
	}
}
