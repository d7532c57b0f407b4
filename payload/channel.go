package payload

import (
	"errors"
	"strings"
)

// Channel type names, as used by filter.channel_type.
const (
	ChannelPublic           = "public"
	ChannelPrivate          = "private"
	ChannelPresence         = "presence"
	ChannelPrivateEncrypted = "private-encrypted"
	// ChannelCache is not a base type: cache channels keep theirs
	// (private-cache-x is private and cache).
	ChannelCache = "cache"
)

// ChannelType derives a channel's base type and whether it is a cache
// channel. Prefixes are anchored and the longest wins: "private-encrypted-"
// → private-encrypted, "presence-" → presence, "private-" → private, anything
// else (including "", "presence" and "privatefoo") → public. cache is true
// for names starting with "cache-", "private-cache-", "presence-cache-" or
// "private-encrypted-cache-"; "foo-cache-bar" is not a cache channel.
func ChannelType(channel string) (base string, cache bool) {
	var rest string
	switch {
	case strings.HasPrefix(channel, "private-encrypted-"):
		base, rest = ChannelPrivateEncrypted, channel[len("private-encrypted-"):]
	case strings.HasPrefix(channel, "presence-"):
		base, rest = ChannelPresence, channel[len("presence-"):]
	case strings.HasPrefix(channel, "private-"):
		base, rest = ChannelPrivate, channel[len("private-"):]
	default:
		base, rest = ChannelPublic, channel
	}
	return base, strings.HasPrefix(rest, "cache-")
}

var errUnknownChannelType = errors.New("unknown channel type; valid: " +
	ChannelPublic + ", " + ChannelPrivate + ", " + ChannelPresence + ", " +
	ChannelPrivateEncrypted + ", " + ChannelCache)

// ParseChannelType checks a configured channel type and returns its
// canonical name: "public", "private", "presence", "private-encrypted" (also
// spelled "private_encrypted") or "cache". Matching is exact
// (case-sensitive, no trimming). The error lists the valid values but names
// neither the value nor its config path; callers add both, e.g.
// `filter.channel_type: "privat": unknown channel type; valid: ...`.
func ParseChannelType(s string) (string, error) {
	switch s {
	case ChannelPublic, ChannelPrivate, ChannelPresence, ChannelPrivateEncrypted, ChannelCache:
		return s, nil
	case "private_encrypted":
		return ChannelPrivateEncrypted, nil
	}
	return "", errUnknownChannelType
}
