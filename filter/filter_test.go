package filter

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hookline/hookline/payload"
)

var all = []string{
	payload.EventChannelOccupied, payload.EventChannelVacated, payload.EventMemberAdded,
	payload.EventMemberRemoved, payload.EventClientEvent, payload.EventCacheMiss,
	payload.EventSubscriptionCount,
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		event   payload.Event
		matches bool
	}{
		// event_types
		{"event type listed", Spec{EventTypes: []string{"member_added"}}, payload.Event{Name: "member_added", Channel: "presence-x"}, true},
		{"event type not listed", Spec{EventTypes: []string{"member_added"}}, payload.Event{Name: "member_removed", Channel: "presence-x"}, false},
		{"event type case-sensitive", Spec{EventTypes: []string{"member_added"}}, payload.Event{Name: "Member_Added"}, false},
		{"no wildcard", Spec{EventTypes: []string{"*"}}, payload.Event{Name: "member_added"}, false},
		{"unknown name selectable", Spec{EventTypes: []string{"future_event"}}, payload.Event{Name: "future_event"}, true},
		{"empty name never matches", Spec{EventTypes: all}, payload.Event{Channel: "c"}, false},

		// channel_type
		{"public matches public", Spec{EventTypes: all, ChannelType: "public"}, payload.Event{Name: "channel_occupied", Channel: "chat"}, true},
		{"public matches public cache", Spec{EventTypes: all, ChannelType: "public"}, payload.Event{Name: "channel_occupied", Channel: "cache-chat"}, true},
		{"public rejects private", Spec{EventTypes: all, ChannelType: "public"}, payload.Event{Name: "channel_occupied", Channel: "private-chat"}, false},
		{"public rejects presence", Spec{EventTypes: all, ChannelType: "public"}, payload.Event{Name: "channel_occupied", Channel: "presence-chat"}, false},
		{"public rejects private-encrypted", Spec{EventTypes: all, ChannelType: "public"}, payload.Event{Name: "channel_occupied", Channel: "private-encrypted-chat"}, false},
		{"private matches private", Spec{EventTypes: all, ChannelType: "private"}, payload.Event{Name: "channel_occupied", Channel: "private-chat"}, true},
		{"private matches private cache", Spec{EventTypes: all, ChannelType: "private"}, payload.Event{Name: "channel_occupied", Channel: "private-cache-chat"}, true},
		{"private rejects private-encrypted-x", Spec{EventTypes: all, ChannelType: "private"}, payload.Event{Name: "channel_occupied", Channel: "private-encrypted-x"}, false},
		{"private rejects privatefoo", Spec{EventTypes: all, ChannelType: "private"}, payload.Event{Name: "channel_occupied", Channel: "privatefoo"}, false},
		{"presence matches presence", Spec{EventTypes: all, ChannelType: "presence"}, payload.Event{Name: "member_added", Channel: "presence-chat"}, true},
		{"presence rejects bare presence", Spec{EventTypes: all, ChannelType: "presence"}, payload.Event{Name: "member_added", Channel: "presence"}, false},
		{"private-encrypted matches", Spec{EventTypes: all, ChannelType: "private-encrypted"}, payload.Event{Name: "client_event", Channel: "private-encrypted-x"}, true},
		{"private_encrypted spelling", Spec{EventTypes: all, ChannelType: "private_encrypted"}, payload.Event{Name: "client_event", Channel: "private-encrypted-x"}, true},
		{"private-encrypted rejects private", Spec{EventTypes: all, ChannelType: "private-encrypted"}, payload.Event{Name: "client_event", Channel: "private-x"}, false},
		{"cache matches cache-", Spec{EventTypes: all, ChannelType: "cache"}, payload.Event{Name: "cache_miss", Channel: "cache-x"}, true},
		{"cache matches private-cache-", Spec{EventTypes: all, ChannelType: "cache"}, payload.Event{Name: "cache_miss", Channel: "private-cache-x"}, true},
		{"cache matches presence-cache-", Spec{EventTypes: all, ChannelType: "cache"}, payload.Event{Name: "cache_miss", Channel: "presence-cache-x"}, true},
		{"cache matches private-encrypted-cache-", Spec{EventTypes: all, ChannelType: "cache"}, payload.Event{Name: "cache_miss", Channel: "private-encrypted-cache-x"}, true},
		{"cache rejects foo-cache-bar", Spec{EventTypes: all, ChannelType: "cache"}, payload.Event{Name: "cache_miss", Channel: "foo-cache-bar"}, false},
		{"cache rejects plain private", Spec{EventTypes: all, ChannelType: "cache"}, payload.Event{Name: "cache_miss", Channel: "private-x"}, false},

		// prefix / suffix
		{"prefix", Spec{EventTypes: all, ChannelPrefix: "presence-chat"}, payload.Event{Name: "member_added", Channel: "presence-chat-1"}, true},
		{"prefix is not contains", Spec{EventTypes: all, ChannelPrefix: "chat"}, payload.Event{Name: "member_added", Channel: "presence-chat"}, false},
		{"prefix case-sensitive", Spec{EventTypes: all, ChannelPrefix: "Presence-"}, payload.Event{Name: "member_added", Channel: "presence-chat"}, false},
		{"prefix equal to name", Spec{EventTypes: all, ChannelPrefix: "beta-"}, payload.Event{Name: "channel_occupied", Channel: "beta-"}, true},
		{"suffix", Spec{EventTypes: all, ChannelSuffix: "-app"}, payload.Event{Name: "channel_occupied", Channel: "beta-chat-app"}, true},
		{"suffix mismatch", Spec{EventTypes: all, ChannelSuffix: "-app"}, payload.Event{Name: "channel_occupied", Channel: "beta-app-chat"}, false},
		{"prefix and suffix both required", Spec{EventTypes: all, ChannelPrefix: "beta-", ChannelSuffix: "-app"}, payload.Event{Name: "channel_occupied", Channel: "beta-chat-room"}, false},
		{"prefix and suffix both hold", Spec{EventTypes: all, ChannelPrefix: "beta-", ChannelSuffix: "-app"}, payload.Event{Name: "channel_occupied", Channel: "beta-chat-room-app"}, true},

		// pattern
		{"pattern unanchored", Spec{EventTypes: all, ChannelPattern: "chat"}, payload.Event{Name: "channel_occupied", Channel: "private-chat-1"}, true},
		{"pattern anchored", Spec{EventTypes: all, ChannelPattern: `^chat-\d+$`}, payload.Event{Name: "channel_occupied", Channel: "chat-42"}, true},
		{"pattern anchored rejects", Spec{EventTypes: all, ChannelPattern: `^chat-\d+$`}, payload.Event{Name: "channel_occupied", Channel: "chat-42x"}, false},
		{"pattern on full name", Spec{EventTypes: all, ChannelPattern: `^private-`}, payload.Event{Name: "channel_occupied", Channel: "private-x"}, true},

		// namespaces
		{"namespace", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "chat:room-1"}, true},
		{"namespace after presence-", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "member_added", Channel: "presence-chat:room-1"}, true},
		{"namespace after private-encrypted-cache-", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "cache_miss", Channel: "private-encrypted-cache-chat:r"}, true},
		{"namespace after cache-", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "cache_miss", Channel: "cache-chat:r"}, true},
		{"namespace is up to first colon", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "chat:a:b"}, true},
		{"no colon, no namespace", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "chat"}, false},
		{"empty namespace", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "presence-:chat"}, false},
		{"namespace prefix is not namespace", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "chatter:x"}, false},
		{"namespace case-sensitive", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "Chat:x"}, false},
		{"only one type prefix stripped", Spec{EventTypes: all, ChannelNamespace: "chat"}, payload.Event{Name: "channel_occupied", Channel: "private-presence-chat:x"}, false},
		{"type prefix kept when it is the namespace", Spec{EventTypes: all, ChannelNamespace: "private"}, payload.Event{Name: "channel_occupied", Channel: "private:x"}, true},
		{"namespaces list hit", Spec{EventTypes: all, ChannelNamespaces: []string{"ticker", "price"}}, payload.Event{Name: "channel_occupied", Channel: "price:EURUSD"}, true},
		{"namespaces list miss", Spec{EventTypes: all, ChannelNamespaces: []string{"ticker", "price"}}, payload.Event{Name: "channel_occupied", Channel: "chat:x"}, false},
		{"namespace and list both", Spec{EventTypes: all, ChannelNamespace: "price", ChannelNamespaces: []string{"ticker", "price"}}, payload.Event{Name: "channel_occupied", Channel: "price:x"}, true},
		{"namespace and list both, other list entry", Spec{EventTypes: all, ChannelNamespace: "price", ChannelNamespaces: []string{"ticker", "price"}}, payload.Event{Name: "channel_occupied", Channel: "ticker:x"}, false},

		// no channel
		{"no channel, no channel condition", Spec{EventTypes: []string{"future"}}, payload.Event{Name: "future"}, true},
		{"no channel, channel_type public", Spec{EventTypes: []string{"future"}, ChannelType: "public"}, payload.Event{Name: "future"}, false},
		{"no channel, pattern matching empty", Spec{EventTypes: []string{"future"}, ChannelPattern: ".*"}, payload.Event{Name: "future"}, false},
		{"no channel, prefix", Spec{EventTypes: []string{"future"}, ChannelPrefix: "x"}, payload.Event{Name: "future"}, false},

		// AND of everything
		{"all conditions hold", Spec{EventTypes: []string{"member_added"}, ChannelType: "presence", ChannelPrefix: "presence-", ChannelSuffix: ":room-1", ChannelPattern: `room-\d`, ChannelNamespace: "chat"}, payload.Event{Name: "member_added", Channel: "presence-chat:room-1"}, true},
		{"one condition fails", Spec{EventTypes: []string{"member_added"}, ChannelType: "private", ChannelPrefix: "presence-", ChannelSuffix: ":room-1", ChannelPattern: `room-\d`, ChannelNamespace: "chat"}, payload.Event{Name: "member_added", Channel: "presence-chat:room-1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.spec)
			if err != nil {
				t.Fatalf("Compile(%+v): %v", tt.spec, err)
			}
			ev := tt.event
			if got := f.Match(&ev); got != tt.matches {
				t.Errorf("Match(%+v) = %v, want %v", tt.event, got, tt.matches)
			}
			if got := f.MatchNameChannel(ev.Name, ev.Channel); got != tt.matches {
				t.Errorf("MatchNameChannel(%q, %q) = %v, want %v", ev.Name, ev.Channel, got, tt.matches)
			}
		})
	}
}

func TestMatchNil(t *testing.T) {
	f, err := Compile(Spec{EventTypes: all})
	if err != nil {
		t.Fatal(err)
	}
	if f.Match(nil) {
		t.Fatal("Match(nil) = true")
	}
}

func TestCompileErrors(t *testing.T) {
	const validTypes = "unknown channel type; valid: public, private, presence, private-encrypted, cache"
	tests := []struct {
		name string
		spec Spec
		want FieldError
		text string
	}{
		{"no event types", Spec{}, FieldError{"event_types", "", "must not be empty"}, `event_types: must not be empty`},
		{"empty event types", Spec{EventTypes: []string{}}, FieldError{"event_types", "", "must not be empty"}, `event_types: must not be empty`},
		{"blank event type", Spec{EventTypes: []string{"member_added", ""}}, FieldError{"event_types[1]", "", "must not be empty"}, `event_types[1]: must not be empty`},
		{"unknown channel type", Spec{EventTypes: all, ChannelType: "privat"}, FieldError{"filter.channel_type", "privat", validTypes},
			`filter.channel_type: "privat": unknown channel type; valid: public, private, presence, private-encrypted, cache`},
		{"channel type wrong case", Spec{EventTypes: all, ChannelType: "Private"}, FieldError{"filter.channel_type", "Private", validTypes},
			`filter.channel_type: "Private": unknown channel type; valid: public, private, presence, private-encrypted, cache`},
		{"invalid regexp", Spec{EventTypes: all, ChannelPattern: "[a"}, FieldError{"filter.channel_pattern", "[a", "invalid regular expression: missing closing ]"},
			"filter.channel_pattern: \"[a\": invalid regular expression: missing closing ]"},
		{"invalid regexp part", Spec{EventTypes: all, ChannelPattern: "^chat-(x"}, FieldError{"filter.channel_pattern", "^chat-(x", "invalid regular expression: missing closing )"},
			"filter.channel_pattern: \"^chat-(x\": invalid regular expression: missing closing )"},
		{"perl lookahead unsupported", Spec{EventTypes: all, ChannelPattern: "^(?!private-)"}, FieldError{"filter.channel_pattern", "^(?!private-)", "invalid regular expression: invalid or unsupported Perl syntax: `(?!`"},
			"filter.channel_pattern: \"^(?!private-)\": invalid regular expression: invalid or unsupported Perl syntax: `(?!`"},
		{"namespace with colon", Spec{EventTypes: all, ChannelNamespace: "chat:"}, FieldError{"filter.channel_namespace", "chat:", `must not contain ":"; the namespace is the part of the channel name before the first ":"`},
			`filter.channel_namespace: "chat:": must not contain ":"; the namespace is the part of the channel name before the first ":"`},
		{"empty namespaces list", Spec{EventTypes: all, ChannelNamespaces: []string{}}, FieldError{"filter.channel_namespaces", "", "must not be empty; omit it to allow every namespace"},
			`filter.channel_namespaces: must not be empty; omit it to allow every namespace`},
		{"blank namespace in list", Spec{EventTypes: all, ChannelNamespaces: []string{"a", "b", ""}}, FieldError{"filter.channel_namespaces[2]", "", "must not be empty"},
			`filter.channel_namespaces[2]: must not be empty`},
		{"colon namespace in list", Spec{EventTypes: all, ChannelNamespaces: []string{"a:b"}}, FieldError{"filter.channel_namespaces[0]", "a:b", `must not contain ":"; the namespace is the part of the channel name before the first ":"`},
			`filter.channel_namespaces[0]: "a:b": must not contain ":"; the namespace is the part of the channel name before the first ":"`},
		{"namespace outside list", Spec{EventTypes: all, ChannelNamespace: "chat", ChannelNamespaces: []string{"ticker"}}, FieldError{"filter.channel_namespace", "chat", "not in filter.channel_namespaces, so nothing can match"},
			`filter.channel_namespace: "chat": not in filter.channel_namespaces, so nothing can match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.spec)
			if err == nil {
				t.Fatalf("Compile = %+v, nil error", f)
			}
			if f != nil {
				t.Error("Compile returned a filter with an error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			if *fe != tt.want {
				t.Errorf("FieldError = %#v, want %#v", *fe, tt.want)
			}
			if err.Error() != tt.text {
				t.Errorf("Error()\n got %s\nwant %s", err, tt.text)
			}
		})
	}
}

func TestCompileDoesNotAlias(t *testing.T) {
	spec := Spec{EventTypes: []string{"channel_occupied"}, ChannelNamespaces: []string{"chat"}}
	f, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.EventTypes[0] = "x"
	spec.ChannelNamespaces[0] = "y"
	if !f.Match(&payload.Event{Name: "channel_occupied", Channel: "chat:1"}) {
		t.Fatal("changing the Spec after Compile changed the Filter")
	}
}

func TestSelect(t *testing.T) {
	f, err := Compile(Spec{EventTypes: []string{"member_added", "member_removed"}, ChannelType: "presence"})
	if err != nil {
		t.Fatal(err)
	}
	events := []payload.Event{
		{Name: "member_added", Channel: "presence-a", UserID: "1"},
		{Name: "channel_occupied", Channel: "presence-a"},
		{Name: "member_removed", Channel: "presence-b", UserID: "2"},
		{Name: "member_added", Channel: "private-a", UserID: "3"},
		{Name: "member_added", Channel: "presence-c", UserID: "4"},
	}
	got := f.Select(events)
	want := []payload.Event{events[0], events[2], events[4]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Select =\n%+v\nwant\n%+v", got, want)
	}
	got[0].ID = "changed"
	if events[0].ID != "" {
		t.Fatal("Select's result aliases the input")
	}
	if got := f.Select(events[1:2]); got != nil {
		t.Fatalf("Select(no match) = %+v, want nil", got)
	}
	if got := f.Select(nil); got != nil {
		t.Fatalf("Select(nil) = %+v, want nil", got)
	}
}

func TestConcurrentMatch(t *testing.T) {
	f, err := Compile(Spec{EventTypes: all, ChannelPattern: `^presence-`, ChannelNamespaces: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := payload.Event{Name: "member_added", Channel: "presence-chat:1"}
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && f.Match(&ev)
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Fatal("concurrent Match returned false")
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f, err := Compile(Spec{EventTypes: all, ChannelType: "presence", ChannelPrefix: "presence-", ChannelPattern: `:room-\d+$`, ChannelNamespaces: []string{"ticker", "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := payload.Event{Name: "member_added", Channel: "presence-chat:room-12"}
	if allocs := testing.AllocsPerRun(100, func() { f.Match(&ev) }); allocs != 0 {
		t.Fatalf("Match allocates %v times", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	cases := []struct {
		name string
		spec Spec
	}{
		{"event_types", Spec{EventTypes: all}},
		{"channel_type", Spec{EventTypes: all, ChannelType: "presence"}},
		{"prefix+suffix", Spec{EventTypes: all, ChannelPrefix: "presence-", ChannelSuffix: "-1"}},
		{"pattern", Spec{EventTypes: all, ChannelPattern: `^presence-chat:room-\d+$`}},
		{"namespaces", Spec{EventTypes: all, ChannelNamespaces: []string{"ticker", "price", "chat"}}},
		{"everything", Spec{EventTypes: all, ChannelType: "presence", ChannelPrefix: "presence-", ChannelPattern: `room-\d+$`, ChannelNamespaces: []string{"ticker", "price", "chat"}}},
	}
	ev := payload.Event{Name: payload.EventMemberAdded, Channel: "presence-chat:room-1", UserID: "u1"}
	for _, c := range cases {
		f, err := Compile(c.spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !f.Match(&ev) {
					b.Fatal("no match")
				}
			}
		})
	}
}
