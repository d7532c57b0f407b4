package worker

// A FIFO message that waited behind its group's active message and was
// released must not end the group when its own release is reported: by
// then the group may have a new active message, and the next one of the
// group would be delivered alongside it (found in review).

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack/sqsmem"
)

func TestFIFOReleasedWaiterDoesNotEndAnotherMessagesGroup(t *testing.T) {
	doc := `{"app_manager":{"driver":"memory","array":{"apps":[{"id":"app","key":"k","secret":"s",
		"webhooks":[{"url":"https://example.invalid/hook","event_types":["member_added"]}]}]}},
		"queue":{"driver":"sqs","sqs":{"region":"us-east-1","queue_name":"mem","visibility_timeout":30,"wait_time_seconds":1,"concurrency":1,"fifo":true}}}`
	cfg, err := config.Parse([]byte(doc), config.Sources{}, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	sender := delivery.SenderFunc(func(context.Context, *delivery.Request) delivery.Outcome {
		return delivery.Outcome{Class: delivery.Delivered}
	})
	w, err := New(cfg, Options{QueueURL: "q", DeadLetterQueueURL: "d", FIFO: true}, sqsmem.New().Client(), sender)
	if err != nil {
		t.Fatal(err)
	}
	e := w.eng
	now := time.Now()
	msg := func(id, handle string) *message {
		body := `{"v":1,"id":"` + id + `","app_id":"app","events":[{"name":"member_added","channel":"presence-x"}]}`
		return w.prepare(&types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String(handle), Body: aws.String(body),
			Attributes: map[string]string{"MessageGroupId": "app", "ApproximateReceiveCount": "1"}}, now)
	}
	a, b, c := msg("A", "a1"), msg("B", "b1"), msg("C", "c1")
	for _, m := range []*message{a, b, c} { // one receive: A active, B and C wait
		e.admit(m, now)
	}
	if a.state != stateActive || b.state != stateWaiting || c.state != stateWaiting {
		t.Fatalf("states %v %v %v", a.state, b.state, c.state)
	}
	e.finishAck(ackDone{m: a, deleted: true})  // A delivered and deleted: B's turn
	e.finishAck(ackDone{m: b, deleted: false}) // B retried (FIFO: visibility): C released (visibility 0), its op in the acker
	if c.state != stateDecided {
		t.Fatalf("C not released: %v", c.state)
	}
	// B's retry delay ends before the acker reported C's release (a slow
	// ChangeMessageVisibilityBatch, or one waiting behind a heartbeat of
	// C's handle): SQS hands out B again, the group's head.
	b2 := msg("B", "b2")
	e.admit(b2, now)
	if b2.state != stateActive {
		t.Fatalf("B received again: %v, want active", b2.state)
	}
	e.finishAck(ackDone{m: c, deleted: false}) // the acker reports C's release
	// C is visible again and received while B is in progress.
	c2 := msg("C", "c2")
	e.admit(c2, now)
	if c2.state != stateWaiting {
		t.Errorf("C received while B (same group) is in progress: state %v, want waiting behind B; the group's order is lost", c2.state)
	}
}
