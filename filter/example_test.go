package filter_test

import (
	"errors"
	"fmt"

	"github.com/hookline/hookline/filter"
	"github.com/hookline/hookline/payload"
)

func ExampleCompile() {
	f, err := filter.Compile(filter.Spec{
		EventTypes:       []string{payload.EventMemberAdded, payload.EventMemberRemoved},
		ChannelType:      payload.ChannelPresence,
		ChannelNamespace: "chat",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	events := []payload.Event{
		{Name: payload.EventMemberAdded, Channel: "presence-chat:lobby", UserID: "u1"},
		{Name: payload.EventMemberAdded, Channel: "presence-ticker:eur", UserID: "u2"},
		{Name: payload.EventChannelOccupied, Channel: "presence-chat:lobby"},
		{Name: payload.EventMemberRemoved, Channel: "private-chat:lobby", UserID: "u3"},
	}
	for _, ev := range f.Select(events) {
		fmt.Println(ev.Name, ev.Channel, ev.UserID)
	}
	// Output: member_added presence-chat:lobby u1
}

func ExampleFieldError() {
	_, err := filter.Compile(filter.Spec{EventTypes: []string{"channel_occupied"}, ChannelType: "privat"})
	var fe *filter.FieldError
	if errors.As(err, &fe) {
		// A config loader prefixes the webhook's path.
		fmt.Printf("app_manager.array.apps[0].webhooks[1].%v\n", fe)
	}
	// Output: app_manager.array.apps[0].webhooks[1].filter.channel_type: "privat": unknown channel type; valid: public, private, presence, private-encrypted, cache
}
