package payload

// EventSize is the exact length of ev's JSON as Event.MarshalJSON writes it,
// and so as Encode writes it inside an envelope and EncodeBody inside a
// body, computed without encoding.
func EventSize(ev *Event) int {
	n := len(`{"name":`) + asciiStringLen(ev.Name) + len(`}`)
	for _, f := range [...]struct {
		key string // with its quotes, colon and leading comma
		val string
	}{
		{`,"channel":`, ev.Channel},
		{`,"event":`, ev.Event},
		{`,"data":`, ev.Data},
		{`,"socket_id":`, ev.SocketID},
		{`,"user_id":`, ev.UserID},
	} {
		if f.val != "" {
			n += len(f.key) + asciiStringLen(f.val)
		}
	}
	if ev.SubscriptionCount != nil {
		n += len(`,"subscription_count":`) + intLen(*ev.SubscriptionCount)
	}
	if ev.TimeMS != 0 {
		n += len(`,"time_ms":`) + intLen(ev.TimeMS)
	}
	if ev.ID != "" {
		n += len(`,"id":`) + asciiStringLen(ev.ID)
	}
	for k, v := range ev.extra {
		n += len(`,`) + asciiStringLen(k) + len(`:`) + asciiLen(v)
	}
	return n
}

// EnvelopeOverhead is the exact length Encode writes for a fresh envelope
// (no targets, attempt, first_attempt_ms or not_before) with this id and app
// id, less its events and the commas between them: an envelope of events
// e0..en-1 is EnvelopeOverhead(id, appID) + ΣEventSize(ei) + n-1 bytes.
func EnvelopeOverhead(id, appID string) int {
	return len(`{"v":`) + intLen(Version) + len(`,"id":`) + asciiStringLen(id) +
		len(`,"app_id":`) + asciiStringLen(appID) + len(`,"events":[`) + len(`]}`)
}
