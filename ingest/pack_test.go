package ingest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/ingest"
	"github.com/hookline/hookline/localstack/sqsmem"
	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/signing"
)

// serve calls h directly (no network, so it runs inside a synctest bubble)
// and returns the status.
func serve(h http.Handler, key, secret, body string) int {
	req := httptest.NewRequest(http.MethodPost, "/pusher", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderKey, key)
	req.Header.Set(signing.HeaderSignature, signing.Sign(secret, []byte(body)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func membersBody(from, n int) string {
	var evs []string
	for i := range n {
		evs = append(evs, fmt.Sprintf(`{"name":"member_added","channel":"presence-x","user_id":"u%d"}`, from+i))
	}
	return `{"time_ms":1700000000000,"events":[` + strings.Join(evs, ",") + `]}`
}

// With the real producer on an in-memory SQS: the POSTs of one app arriving
// within the linger share one queue message (each event keeping its POST's
// id), another app's POST gets its own message in the same SendMessageBatch
// call, a POST larger than webhooks.batching.size is cut into full messages,
// and every POST is answered only once its events are on the queue.
func TestPostsOfAnAppShareAQueueMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := sqsmem.New()
		mainURL, _ := srv.CreatePair("ingest", false, 30*time.Second, 5)
		cfg, err := config.Parse([]byte(`{"app_manager":{"array":{"apps":[
			{"id":"app-1","key":"key-1","secret":"secret-1"},{"id":"app-2","key":"key-2","secret":"secret-2"}]}}}`),
			config.Sources{}, config.Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		prod, err := producer.New(context.Background(), srv.Client(), producer.Options{
			QueueURL: mainURL, MaxEvents: 10, Linger: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close(context.Background())
		h, err := ingest.New(prod, ingest.Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		srv.ResetCalls()

		posts := []struct{ key, secret, body string }{
			{"key-1", "secret-1", membersBody(0, 3)},
			{"key-1", "secret-1", membersBody(3, 4)},
			{"key-2", "secret-2", membersBody(0, 2)},
		}
		var wg sync.WaitGroup
		codes := make([]int, len(posts))
		for i, p := range posts {
			wg.Go(func() { codes[i] = serve(h, p.key, p.secret, p.body) })
		}
		synctest.Wait()
		if n := len(srv.Peek(mainURL)); n != 0 {
			t.Errorf("%d messages on the queue before the linger ended", n)
		}
		wg.Wait()
		for i, c := range codes {
			if c != 200 {
				t.Errorf("POST %d: %d", i, c)
			}
		}
		msgs := srv.Peek(mainURL)
		if len(msgs) != 2 {
			t.Fatalf("%d messages, want 2 (one per app)", len(msgs))
		}
		if calls := srv.Calls()["SendMessageBatch"]; calls != 1 {
			t.Errorf("%d SendMessageBatch calls, want 1", calls)
		}
		byApp := map[string]*payload.Envelope{}
		for _, m := range msgs {
			env, err := payload.Decode([]byte(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			byApp[env.AppID] = env
		}
		var users, posts1 []string
		for _, e := range byApp["app-1"].Events {
			users = append(users, e.UserID)
			post, _, _ := strings.Cut(e.ID, ":")
			if !slices.Contains(posts1, post) {
				posts1 = append(posts1, post)
			}
		}
		slices.Sort(users)
		if want := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"}; !slices.Equal(users, want) {
			t.Errorf("app-1's message holds %v, want both POSTs' events %v", users, want)
		}
		if len(posts1) != 2 {
			t.Errorf("app-1's events carry ids of %d POSTs, want 2: %v", len(posts1), posts1)
		}
		if n := len(byApp["app-2"].Events); n != 2 {
			t.Errorf("app-2's message holds %d events, want 2", n)
		}

		// 25 events, batching.size 10: full messages of 10, 10 and 5.
		if _, err := srv.Client().PurgeQueue(context.Background(), &sqs.PurgeQueueInput{QueueUrl: aws.String(mainURL)}); err != nil {
			t.Fatal(err)
		}
		if c := serve(h, "key-1", "secret-1", membersBody(100, 25)); c != 200 {
			t.Fatalf("large POST: %d", c)
		}
		var sizes []int
		for _, m := range srv.Peek(mainURL) {
			env, err := payload.Decode([]byte(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(env.Events))
		}
		slices.Sort(sizes)
		if !slices.Equal(sizes, []int{5, 10, 10}) {
			t.Errorf("a 25-event POST became messages of %v events, want [5 10 10]", sizes)
		}
	})
}
