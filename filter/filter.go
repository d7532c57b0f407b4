// Package filter decides which events a webhook receives.
//
// A [Spec] holds a webhook's "event_types" and "filter" keys; [Compile]
// checks them once, at config load, and returns a [Filter] whose
// [Filter.Match] is safe for concurrent use and does not allocate. Every
// condition that is set must hold (AND):
//
//   - EventTypes: the event's name equals one of them exactly (required,
//     non-empty; unknown names are allowed, so custom events can be
//     selected; there are no wildcards).
//   - ChannelType: the type derived by [payload.ChannelType]. "cache"
//     matches cache channels of any base type; the base types match on the
//     base alone, so "private" matches private-cache-x but not
//     private-encrypted-x, and "public" matches cache-x but no private,
//     presence or private-encrypted channel. "private_encrypted" is
//     accepted for "private-encrypted".
//   - ChannelPrefix, ChannelSuffix: plain, case-sensitive string tests on
//     the full channel name.
//   - ChannelPattern: a Go regular expression (RE2 syntax), compiled once,
//     unanchored like Sockudo's (use ^ and $ to anchor), tested against the
//     full channel name. An invalid pattern is a Compile error, never a
//     webhook that silently matches nothing (Sockudo drops all events). RE2
//     and Rust's regex crate agree on common syntax; Go's \d, \w and \b are
//     ASCII-only where Rust's are Unicode.
//   - ChannelNamespace, ChannelNamespaces: Sockudo's channel namespaces. The
//     namespace is found as Sockudo's channel_namespace_name does: strip
//     the first matching prefix of "private-encrypted-cache-",
//     "private-cache-", "presence-cache-", "cache-", "private-encrypted-",
//     "presence-", "private-", then take the text before the first ':'. A
//     channel without ':' or with nothing before it has no namespace and
//     matches no namespace condition. "presence-chat:room-1" is in
//     namespace "chat"; "chat" and "presence-:x" are in none. The match is
//     exact and case-sensitive. ChannelNamespace must equal it;
//     ChannelNamespaces must contain it.
//
// An empty string means "not set" for the string conditions, and a nil
// ChannelNamespaces means not set (unlike Sockudo, where "" is a condition
// nothing can meet). Conditions that could never match are Compile errors:
// an empty entry in EventTypes or ChannelNamespaces, a non-nil but empty
// ChannelNamespaces, a namespace containing ':'.
//
// Events without a channel (none of Pusher's today, but unknown event names
// pass through) match only when no channel condition is set.
package filter

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/hookline/hookline/payload"
)

// Spec is a webhook's matching configuration, as written in config.json:
// "event_types" and the "filter" object. Empty strings are unset.
type Spec struct {
	EventTypes        []string // event_types
	ChannelType       string   // filter.channel_type
	ChannelPrefix     string   // filter.channel_prefix
	ChannelSuffix     string   // filter.channel_suffix
	ChannelPattern    string   // filter.channel_pattern
	ChannelNamespace  string   // filter.channel_namespace
	ChannelNamespaces []string // filter.channel_namespaces; nil = unset
}

// FieldError is a Spec that cannot be compiled. Field is the key path
// relative to the webhook object ("event_types", "filter.channel_type",
// "filter.channel_namespaces[2]"), so a config loader can prefix the app and
// webhook path.
type FieldError struct {
	Field string
	Value string // the offending value; "" when the problem is its absence
	Msg   string
}

// Error formats as `filter.channel_type: "privat": unknown channel type;
// valid: ...`, or `event_types: must not be empty` when Value is "".
func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Msg
	}
	return e.Field + ": " + strconv.Quote(e.Value) + ": " + e.Msg
}

// Filter is a compiled Spec. It is immutable and safe for concurrent use.
type Filter struct {
	events     map[string]struct{}
	base       string // "" = any
	cache      bool   // require a cache channel
	prefix     string
	suffix     string
	pattern    *regexp.Regexp
	namespaces []string // nil = any
	channel    bool     // some channel condition is set
}

// Compile checks s and returns its Filter. Errors are *FieldError and name
// the first offending key.
func Compile(s Spec) (*Filter, error) {
	if len(s.EventTypes) == 0 {
		return nil, &FieldError{Field: "event_types", Msg: "must not be empty"}
	}
	f := &Filter{
		events: make(map[string]struct{}, len(s.EventTypes)),
		prefix: s.ChannelPrefix,
		suffix: s.ChannelSuffix,
	}
	for i, name := range s.EventTypes {
		if name == "" {
			return nil, &FieldError{Field: "event_types[" + strconv.Itoa(i) + "]", Msg: "must not be empty"}
		}
		f.events[name] = struct{}{}
	}

	if s.ChannelType != "" {
		ct, err := payload.ParseChannelType(s.ChannelType)
		if err != nil {
			return nil, &FieldError{Field: "filter.channel_type", Value: s.ChannelType, Msg: err.Error()}
		}
		if ct == payload.ChannelCache {
			f.cache = true
		} else {
			f.base = ct
		}
	}

	if s.ChannelPattern != "" {
		re, err := regexp.Compile(s.ChannelPattern)
		if err != nil {
			msg := err.Error()
			if se, ok := err.(*syntax.Error); ok {
				msg = "invalid regular expression: " + se.Code.String()
				if se.Expr != "" && se.Expr != s.ChannelPattern {
					msg += ": `" + se.Expr + "`"
				}
			}
			return nil, &FieldError{Field: "filter.channel_pattern", Value: s.ChannelPattern, Msg: msg}
		}
		f.pattern = re
	}

	if s.ChannelNamespace != "" {
		if err := checkNamespace("filter.channel_namespace", s.ChannelNamespace); err != nil {
			return nil, err
		}
		f.namespaces = []string{s.ChannelNamespace}
	}
	if s.ChannelNamespaces != nil {
		if len(s.ChannelNamespaces) == 0 {
			return nil, &FieldError{Field: "filter.channel_namespaces", Msg: "must not be empty; omit it to allow every namespace"}
		}
		var list []string
		for i, ns := range s.ChannelNamespaces {
			if err := checkNamespace("filter.channel_namespaces["+strconv.Itoa(i)+"]", ns); err != nil {
				return nil, err
			}
			list = append(list, ns)
		}
		if f.namespaces != nil {
			// Both set: the namespace must satisfy both.
			if !contains(list, s.ChannelNamespace) {
				return nil, &FieldError{Field: "filter.channel_namespace", Value: s.ChannelNamespace,
					Msg: "not in filter.channel_namespaces, so nothing can match"}
			}
		} else {
			f.namespaces = list
		}
	}

	f.channel = f.base != "" || f.cache || f.prefix != "" || f.suffix != "" ||
		f.pattern != nil || f.namespaces != nil
	return f, nil
}

func checkNamespace(field, ns string) error {
	if ns == "" {
		return &FieldError{Field: field, Msg: "must not be empty"}
	}
	if strings.Contains(ns, ":") {
		return &FieldError{Field: field, Value: ns, Msg: `must not contain ":"; the namespace is the part of the channel name before the first ":"`}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Match reports whether ev passes every condition of f. A nil ev never
// matches.
func (f *Filter) Match(ev *payload.Event) bool {
	if ev == nil {
		return false
	}
	return f.MatchNameChannel(ev.Name, ev.Channel)
}

// MatchNameChannel is Match for an event given by its name and channel
// alone (the worker keeps events as raw JSON and reads only these two).
func (f *Filter) MatchNameChannel(name, ch string) bool {
	if _, ok := f.events[name]; !ok {
		return false
	}
	if !f.channel {
		return true
	}
	if ch == "" {
		return false
	}
	if f.base != "" || f.cache {
		base, cache := payload.ChannelType(ch)
		if f.base != "" && base != f.base {
			return false
		}
		if f.cache && !cache {
			return false
		}
	}
	if !strings.HasPrefix(ch, f.prefix) || !strings.HasSuffix(ch, f.suffix) {
		return false
	}
	if f.pattern != nil && !f.pattern.MatchString(ch) {
		return false
	}
	if f.namespaces != nil {
		ns, ok := namespace(ch)
		if !ok || !contains(f.namespaces, ns) {
			return false
		}
	}
	return true
}

// Select returns the events that match, in their original order, in a new
// slice (nil when none match). The events are copied shallowly.
func (f *Filter) Select(events []payload.Event) []payload.Event {
	var out []payload.Event
	for i := range events {
		if f.Match(&events[i]) {
			out = append(out, events[i])
		}
	}
	return out
}

// namespacePrefixes are stripped before the namespace is read, first match
// only, in Sockudo's order.
var namespacePrefixes = [...]string{
	"private-encrypted-cache-",
	"private-cache-",
	"presence-cache-",
	"cache-",
	"private-encrypted-",
	"presence-",
	"private-",
}

// namespace returns the Sockudo namespace of channel: the text before the
// first ':' once the type prefix is stripped; ok is false when there is none.
func namespace(channel string) (ns string, ok bool) {
	for _, p := range namespacePrefixes {
		if rest, found := strings.CutPrefix(channel, p); found {
			channel = rest
			break
		}
	}
	ns, _, found := strings.Cut(channel, ":")
	if !found || ns == "" {
		return "", false
	}
	return ns, true
}
