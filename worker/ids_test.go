package worker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/worker"
)

// An event that carries its own "id" in the envelope (ingest gives every
// event of a POST one, so POSTs can share an envelope) is delivered with that
// id; the others get "<envelope id>:<index>"; with webhooks.event_ids false
// no event has an id, its own included. The filtered-out event in the middle
// checks that indexes stay the envelope's.
func TestEventsKeepTheirOwnIDs(t *testing.T) {
	t.Parallel()
	body := `{"v":1,"id":"env-1","app_id":"app","events":[` +
		`{"name":"member_added","channel":"presence-a","user_id":"u0","id":"ing-aaa:0"},` +
		`{"name":"channel_occupied","channel":"presence-a","id":"ing-aaa:1"},` +
		`{"name":"member_added","channel":"presence-a","user_id":"u2"},` +
		`{"name":"member_added","channel":"presence-a","user_id":"u3","id":"ing-bbb:7"}]}`
	for _, tc := range []struct {
		name, webhooks string
		want           []string
	}{
		{"ids on", `{}`, []string{"ing-aaa:0", "env-1:2", "ing-bbb:7"}},
		{"ids off", `{"event_ids":false}`, []string{"", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var got []string
				sender := delivery.SenderFunc(func(_ context.Context, req *delivery.Request) delivery.Outcome {
					b, err := payload.DecodeBody(req.Body)
					if err != nil {
						t.Errorf("body: %v", err)
					}
					mu.Lock()
					for _, e := range b.Events {
						got = append(got, e.ID)
					}
					mu.Unlock()
					return delivery.Outcome{Class: delivery.Delivered, Status: 200}
				})
				srv := sqsmem.New()
				_, mainURL, _, _, stop := memWorkerWith(t, srv, 10, tc.webhooks, 1, sender, worker.Options{})
				if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
					QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Second) // one long poll and a batching window
				synctest.Wait()
				stop()
				mu.Lock()
				defer mu.Unlock()
				if !slices.Equal(got, tc.want) {
					t.Errorf("delivered ids %q, want %q", got, tc.want)
				}
				if left := srv.Peek(mainURL); len(left) != 0 {
					t.Errorf("%d messages left on the queue", len(left))
				}
			})
		})
	}
}
