package worker_test

import (
	"context"
	"slices"
	"strings"
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

// Delivery ids survive every path a message takes: a retry (a new
// envelope), a 413 halving, and a dead letter (whose body keeps each event's
// own id).
func TestOwnIDsThroughRetryHalvingAndDLQ(t *testing.T) {
	t.Parallel()
	body := `{"v":1,"id":"env-2","app_id":"app","events":[` +
		`{"name":"member_added","channel":"presence-a","user_id":"u0","id":"ing-aaa:0"},` +
		`{"name":"member_added","channel":"presence-a","user_id":"u1"},` +
		`{"name":"member_added","channel":"presence-a","user_id":"u2","id":"ing-bbb:3"},` +
		`{"name":"member_added","channel":"presence-a","user_id":"u3","id":"ing-bbb:4"}]}`
	want := []string{"env-2:1", "ing-aaa:0", "ing-bbb:3", "ing-bbb:4"}
	for _, tc := range []struct {
		name    string
		answers []delivery.Class // then Delivered, or the last one for ever
		dlq     bool
	}{
		{"retry then 413 halving", []delivery.Class{delivery.Retryable, delivery.TooLarge}, false},
		{"dead letter", []delivery.Class{delivery.Permanent}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var got []string
				calls := 0
				sender := delivery.SenderFunc(func(_ context.Context, req *delivery.Request) delivery.Outcome {
					mu.Lock()
					defer mu.Unlock()
					calls++
					class := delivery.Delivered
					switch {
					case calls <= len(tc.answers):
						class = tc.answers[calls-1]
					case tc.dlq:
						class = tc.answers[len(tc.answers)-1]
					}
					if class != delivery.Delivered {
						return delivery.Outcome{Class: class, Status: map[delivery.Class]int{delivery.Retryable: 500, delivery.TooLarge: 413, delivery.Permanent: 410}[class]}
					}
					b, err := payload.DecodeBody(req.Body)
					if err != nil {
						t.Errorf("body: %v", err)
					}
					for _, e := range b.Events {
						got = append(got, e.ID)
					}
					return delivery.Outcome{Class: delivery.Delivered, Status: 200}
				})
				srv := sqsmem.New()
				_, mainURL, dlqURL, _, stop := memWorkerWith(t, srv, 10, `{"retry":{"max_attempts":3,"initial_backoff_ms":1000,"max_backoff_ms":1000}}`, 1, sender, worker.Options{})
				if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
					QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(30 * time.Second) // virtual: the retry's delay, polls and batching windows
				synctest.Wait()
				stop()
				mu.Lock()
				defer mu.Unlock()
				if tc.dlq {
					dead := srv.Peek(dlqURL)
					if len(got) != 0 || len(dead) != 1 {
						t.Fatalf("%d ids delivered, %d dead letters; want none and 1", len(got), len(dead))
					}
					env, err := payload.Decode([]byte(dead[0].Body))
					if err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, e := range env.Events {
						ids = append(ids, e.ID)
					}
					if want := []string{"ing-aaa:0", "", "ing-bbb:3", "ing-bbb:4"}; env.ID != "env-2" || !slices.Equal(ids, want) {
						t.Errorf("dead letter %q with event ids %q, want env-2 and %q", env.ID, ids, want)
					}
					return
				}
				slices.Sort(got)
				if !slices.Equal(got, want) || calls != 4 {
					t.Errorf("%d requests delivered ids %q, want 4 (500, 413, two halves) and %q", calls, got, want)
				}
				if left := srv.Peek(mainURL); len(left) != 0 {
					t.Errorf("%d messages left on the queue", len(left))
				}
			})
		})
	}
}

// Events of a private-encrypted-* channel travel in requests of their own,
// never with another channel's events (Pusher's Go SDK rejects a whole
// request it cannot decrypt one event of); every other event still shares
// requests, across messages too, and each channel keeps its order.
func TestEncryptedChannelsTravelAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var requests [][]string
		sender := delivery.SenderFunc(func(_ context.Context, req *delivery.Request) delivery.Outcome {
			b, err := payload.DecodeBody(req.Body)
			if err != nil {
				t.Errorf("body: %v", err)
			}
			var chans []string
			for _, e := range b.Events {
				chans = append(chans, e.Channel+"/"+e.UserID)
			}
			mu.Lock()
			requests = append(requests, chans)
			mu.Unlock()
			return delivery.Outcome{Class: delivery.Delivered, Status: 200}
		})
		srv := sqsmem.New()
		_, mainURL, _, _, stop := memWorkerWith(t, srv, 10, `{"batching":{"enabled":true,"duration":200,"size":100}}`, 1, sender, worker.Options{})
		ev := func(ch, u string) string {
			return `{"name":"member_added","channel":"` + ch + `","user_id":"` + u + `"}`
		}
		for i, body := range []string{
			`{"v":1,"id":"m1","app_id":"app","events":[` + ev("presence-a", "1") + `,` + ev("private-encrypted-x", "2") + `,` +
				ev("private-encrypted-x", "3") + `,` + ev("presence-a", "4") + `,` + ev("private-encrypted-y", "5") + `]}`,
			`{"v":1,"id":"m2","app_id":"app","events":[` + ev("private-encrypted-x", "6") + `,` + ev("presence-b", "7") + `]}`,
		} {
			if _, err := srv.Client().SendMessage(context.Background(), &sqs.SendMessageInput{
				QueueUrl: aws.String(mainURL), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(i, err)
			}
		}
		time.Sleep(3 * time.Second) // virtual: one long poll and a batching window
		synctest.Wait()
		stop()
		mu.Lock()
		defer mu.Unlock()
		got := map[string][]string{}
		for _, r := range requests {
			key := "plain"
			if strings.HasPrefix(r[0], "private-encrypted-") {
				key, _, _ = strings.Cut(r[0], "/")
			}
			for _, e := range r {
				ch, _, _ := strings.Cut(e, "/")
				if (key == "plain") == strings.HasPrefix(ch, "private-encrypted-") || (key != "plain" && ch != key) {
					t.Errorf("request %v mixes channels", r)
				}
			}
			got[key] = append(got[key], r...)
		}
		want := map[string][]string{
			"plain":               {"presence-a/1", "presence-a/4", "presence-b/7"},
			"private-encrypted-x": {"private-encrypted-x/2", "private-encrypted-x/3", "private-encrypted-x/6"},
			"private-encrypted-y": {"private-encrypted-y/5"},
		}
		for k, w := range want {
			if !slices.Equal(got[k], w) {
				t.Errorf("%s: delivered %v, want %v in this order", k, got[k], w)
			}
		}
		if len(requests) > 4 {
			t.Errorf("%d requests %v: the plain events should share one, each encrypted channel's at most two", len(requests), requests)
		}
	})
}
