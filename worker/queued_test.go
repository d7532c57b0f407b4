package worker_test

// A part split into several requests gives back exactly the queued bytes it
// took: once the commas between its chunks leaked, a healthy, idle webhook
// had everything handed back forever (found in review).

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/worker"
)

func TestSplitPartsGiveBackTheirQueuedBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := sqsmem.New()
		var requests atomic.Int64
		sender := delivery.SenderFunc(func(context.Context, *delivery.Request) delivery.Outcome {
			requests.Add(1)
			return delivery.Outcome{Class: delivery.Delivered, Status: 200}
		})
		// A cap smaller than one part: a part is admitted only while nothing
		// else is queued for the webhook (q.queued == 0).
		_, mainURL, _, _, stop := memWorkerWith(t, srv, 10, `{"batching":{"enabled":false}}`, 1, sender,
			worker.Options{WebhookQueuedBytes: 1})
		send := func(id string) {
			body := `{"v":1,"id":"` + id + `","app_id":"app","events":[{"name":"member_added","channel":"presence-a"},{"name":"member_added","channel":"presence-b"},{"name":"member_added","channel":"presence-c"}]}`
			if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
		send("first")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := requests.Load(); n != 3 {
			t.Fatalf("first message: %d requests, want 3 (one per event, batching off)", n)
		}
		// The webhook is idle now: nothing is queued for it, so the second
		// message must be admitted exactly like the first.
		send("second")
		time.Sleep(20 * time.Second)
		synctest.Wait()
		stop()
		if n := requests.Load(); n != 6 {
			t.Errorf("second message to an idle, healthy webhook: %d requests in all, want 6; main queue holds %d message(s) (handed back again and again)",
				n, len(srv.Peek(mainURL)))
		}
	})
}
