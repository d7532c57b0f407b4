package producer_test

import (
	"context"
	"testing"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
)

// Characters SQS refuses (U+FFFE, U+FFFF) or the local emulator refuses
// (everything above U+FFFF, such as emoji) can be in any event: envelopes
// are written as ASCII, SQS accepts them, and the events read back are the
// same strings.
func TestCharactersSQSRefusesAreEscaped(t *testing.T) {
	client, url := localQueue(t, false)
	p, _ := newProducer(t, client, producer.Options{QueueURL: url, FairQueues: true})
	strange := "nonchar \uffff \ufffe emoji 😀 astral 𝄞 line \u2028 nul \x00 bell \a é"
	events := []payload.Event{
		{Name: payload.EventClientEvent, Channel: "private-😀", Event: "client-\uffff", Data: strange, UserID: "u-" + strange},
		{Name: payload.EventMemberAdded, Channel: "presence-ok", UserID: "plain"},
	}
	if err := p.Publish(context.Background(), "app-1", events...); err != nil {
		t.Fatalf("Publish: %v (SQS refused a character)", err)
	}
	msgs := receiveAll(t, client, url, len(events))
	var got []payload.Event
	for _, m := range msgs {
		got = append(got, m.env.Events...)
	}
	if len(got) != len(events) {
		t.Fatalf("received %d events, want %d", len(got), len(events))
	}
	for i, want := range events {
		g := got[i]
		if g.Channel != want.Channel || g.Event != want.Event || g.Data != want.Data || g.UserID != want.UserID {
			t.Errorf("event %d came back as %+v, want %+v", i, g, want)
		}
	}
}
