package payload

import "testing"

func TestChannelType(t *testing.T) {
	tests := []struct {
		channel string
		base    string
		cache   bool
	}{
		{"", ChannelPublic, false},
		{"chat", ChannelPublic, false},
		{"private-chat", ChannelPrivate, false},
		{"presence-chat", ChannelPresence, false},
		{"private-encrypted-chat", ChannelPrivateEncrypted, false},
		{"private-encrypted-x", ChannelPrivateEncrypted, false},
		{"private-encrypted-", ChannelPrivateEncrypted, false},
		{"private-encrypted", ChannelPrivate, false}, // "private-" + "encrypted"
		{"private-", ChannelPrivate, false},
		{"presence", ChannelPublic, false},
		{"private", ChannelPublic, false},
		{"privatefoo", ChannelPublic, false},
		{"presencefoo", ChannelPublic, false},
		{"Private-chat", ChannelPublic, false},
		{"PRESENCE-chat", ChannelPublic, false},
		{" private-chat", ChannelPublic, false},
		{"x-private-chat", ChannelPublic, false},
		{"private_encrypted-chat", ChannelPublic, false},
		{"cache-chat", ChannelPublic, true},
		{"cache-", ChannelPublic, true},
		{"cache", ChannelPublic, false},
		{"cachechat", ChannelPublic, false},
		{"private-cache-chat", ChannelPrivate, true},
		{"presence-cache-chat", ChannelPresence, true},
		{"private-encrypted-cache-chat", ChannelPrivateEncrypted, true},
		{"foo-cache-bar", ChannelPublic, false},
		{"private-foo-cache-bar", ChannelPrivate, false},
		{"cache-private-chat", ChannelPublic, true},
		{"presence-private-chat", ChannelPresence, false},
		{"private-presence-chat", ChannelPrivate, false},
		{"#server-to-user-1", ChannelPublic, false},
		{"private-chat:room-1", ChannelPrivate, false},
	}
	for _, tt := range tests {
		base, cache := ChannelType(tt.channel)
		if base != tt.base || cache != tt.cache {
			t.Errorf("ChannelType(%q) = (%q, %v), want (%q, %v)", tt.channel, base, cache, tt.base, tt.cache)
		}
	}
}

func TestParseChannelType(t *testing.T) {
	const msg = "unknown channel type; valid: public, private, presence, private-encrypted, cache"
	tests := []struct {
		in, want, err string
	}{
		{"public", "public", ""},
		{"private", "private", ""},
		{"presence", "presence", ""},
		{"private-encrypted", "private-encrypted", ""},
		{"private_encrypted", "private-encrypted", ""},
		{"cache", "cache", ""},
		{"", "", msg},
		{"privat", "", msg},
		{"Private", "", msg},
		{"PUBLIC", "", msg},
		{" public", "", msg},
		{"public ", "", msg},
		{"private-", "", msg},
		{"encrypted", "", msg},
		{"private-cache", "", msg},
		{"private encrypted", "", msg},
	}
	for _, tt := range tests {
		got, err := ParseChannelType(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || got != "" {
				t.Errorf("ParseChannelType(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseChannelType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
