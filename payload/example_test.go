package payload_test

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/hookline/hookline/payload"
)

func ExampleDecode() {
	for _, msg := range []string{
		`{"v":1,"id":"e1","app_id":"app-1","events":[{"name":"client_event","channel":"private-chat","data":{"text":"hi"}}]}`,
		`{"v":2,"id":"e2","app_id":"app-1","events":[]}`,
		`{"app_id":"app-1","app_key":"k","app_secret":"s","payload":{"time_ms":1,"events":[]}}`,
		`{"v":1,"id":"e3","app_id":"app-1","events":[{"channel":"c"}]}`,
	} {
		env, err := payload.Decode([]byte(msg))
		var de *payload.DecodeError
		switch {
		case err == nil:
			fmt.Printf("deliver %s: data=%s\n", env.ID, env.Events[0].Data)
		case errors.Is(err, payload.ErrFutureVersion):
			fmt.Println("release for a newer worker:", err)
		case errors.As(err, &de):
			fmt.Printf("dead-letter (%s): %v\n", de.Reason, err)
		}
	}
	// Output:
	// deliver e1: data={"text":"hi"}
	// release for a newer worker: payload: envelope version newer than supported: v 2, this build reads up to 1
	// dead-letter (sockudo-job): payload: "app_secret" key: a Sockudo queue job, not a Hookline envelope
	// dead-letter (invalid-envelope): payload: events[0]: missing "name"
}

func ExampleEncode() {
	b, err := payload.Encode(&payload.Envelope{
		V:     payload.Version,
		ID:    "01HV4Z9Q8W",
		AppID: "app-1",
		Events: []payload.Event{
			{Name: payload.EventMemberAdded, Channel: "presence-chat", UserID: "u1", TimeMS: 1678886400100},
		},
	})
	fmt.Println(string(b), err)
	// Output: {"v":1,"id":"01HV4Z9Q8W","app_id":"app-1","events":[{"name":"member_added","channel":"presence-chat","user_id":"u1","time_ms":1678886400100}]} <nil>
}

func ExampleEncodeBody() {
	body, err := payload.EncodeBody(1678886460000, []payload.Event{
		{Name: payload.EventChannelOccupied, Channel: "presence-chat", TimeMS: 1678886400100, ID: "01HV4Z9Q8W:0"},
	})
	fmt.Println(string(body), err)
	// Output: {"time_ms":1678886460000,"events":[{"name":"channel_occupied","channel":"presence-chat","time_ms":1678886400100,"id":"01HV4Z9Q8W:0"}]} <nil>
}

func ExampleChannelType() {
	for _, ch := range []string{"private-encrypted-cache-x", "presence-chat", "foo-cache-bar"} {
		base, cache := payload.ChannelType(ch)
		fmt.Println(ch, base, cache)
	}
	// Output:
	// private-encrypted-cache-x private-encrypted true
	// presence-chat presence false
	// foo-cache-bar public false
}

func ExampleDecodeRaw() {
	msg := `{"v":1,"id":"e1","app_id":"app-1","events":[{"name":"client_event","channel":"private-chat","event":"client-typing","data":"{\"user\":\"alice\"}","time_ms":1700000000000}],"hint":"kept"}`
	env, err := payload.DecodeRaw([]byte(msg))
	if err != nil {
		fmt.Println(err)
		return
	}
	events := env.Events
	for i := range events {
		events[i].ID = env.ID + ":" + strconv.Itoa(i) // the delivery id
	}
	fmt.Println(events[0].Name, events[0].Channel)
	body := payload.AppendBody(nil, 1700000001000, events)
	fmt.Println(string(body), len(body) == payload.BodySize(1700000001000, events))
	fmt.Printf("%s=%s\n", env.Extra[0].Key, env.Extra[0].Value)
	// Output:
	// client_event private-chat
	// {"time_ms":1700000001000,"events":[{"name":"client_event","channel":"private-chat","event":"client-typing","data":"{\"user\":\"alice\"}","time_ms":1700000000000,"id":"e1:0"}]} true
	// hint="kept"
}
