package producer_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
)

// These tests fake SQS at the seam, for conditions the real SQS cannot
// produce on demand (a send that hangs), and run in a synctest bubble: they
// wait for goroutines to block, never sleep.

const fakeURL = "https://sqs.us-east-1.amazonaws.com/123456789012/hookline-webhooks"

// publishAsync runs Publish in a goroutine; its result arrives on the channel.
func publishAsync(ctx context.Context, p *producer.Producer, app string, events ...payload.Event) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Publish(ctx, app, events...) }()
	return ch
}

// pending reports whether ch has no result yet.
func pending(ch <-chan error) bool {
	select {
	case err := <-ch:
		panic("result arrived: " + errString(err))
	default:
		return true
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// A full buffer blocks Publish: until its ctx ends (ctx.Err(), nothing
// handed off), or until room frees up.
func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memorySQS{}
		client := newBlocking(mem)
		p, reg := newProducer(t, client, producer.Options{BatchLinger: -1, QueueURL: fakeURL, BufferEvents: 4, MaxEvents: 2, Concurrency: 1})
		ctx := context.Background()

		// Fill the buffer: 4 events in two envelopes, the first in a call
		// that hangs, the second waiting for the call slot.
		first := publishAsync(ctx, p, "app", ev("app", 0), ev("app", 1))
		synctest.Wait()
		second := publishAsync(ctx, p, "app", ev("app", 2), ev("app", 3))
		synctest.Wait()
		if got := metric(t, reg, "hookline_producer_buffer_events"); got != 4 {
			t.Fatalf("buffer_events = %v, want 4", got)
		}

		// No room: Publish waits until its deadline and hands nothing off.
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		start := time.Now()
		err := p.Publish(dctx, "app", ev("app", 4))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, producer.ErrOutcomeUnknown) {
			t.Fatalf("Publish on a full buffer = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Publish returned after %v, want its 1s deadline", waited)
		}

		// A publish without deadline waits for room...
		blocked := publishAsync(ctx, p, "app", ev("app", 5))
		synctest.Wait()
		pending(blocked)
		pending(first)
		pending(second)
		if calls := client.started(); calls != 1 {
			t.Fatalf("%d SendMessageBatch calls started, want 1 (Concurrency 1)", calls)
		}

		// ...and succeeds once the sends go through.
		close(client.release)
		for i, ch := range []<-chan error{first, second, blocked} {
			if err := <-ch; err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
		}
		var users []string
		for _, m := range mem.sent() {
			env, err := payload.Decode([]byte(aws.ToString(m.MessageBody)))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range env.Events {
				users = append(users, e.UserID)
			}
		}
		if got := strings.Join(users, " "); got != "app/0 app/1 app/2 app/3 app/5" {
			t.Errorf("sent events %s, want app/0 app/1 app/2 app/3 app/5 (app/4 never handed off)", got)
		}
	})
}

// ctx cancelled after the hand-off: ErrOutcomeUnknown, not ctx's error; the
// events are still sent.
func TestOutcomeUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memorySQS{}
		client := newBlocking(mem)
		p, _ := newProducer(t, client, producer.Options{BatchLinger: -1, QueueURL: fakeURL, MaxEvents: 1})
		ctx, cancel := context.WithCancel(context.Background())
		res := publishAsync(ctx, p, "app", ev("app", 0))
		synctest.Wait() // handed off; the send hangs
		if client.started() != 1 {
			t.Fatalf("%d calls started, want 1", client.started())
		}
		cancel()
		err := <-res
		if !errors.Is(err, producer.ErrOutcomeUnknown) {
			t.Fatalf("Publish = %v, want ErrOutcomeUnknown", err)
		}
		if errors.Is(err, context.Canceled) {
			t.Errorf("Publish = %v matches context.Canceled, which means nothing was handed off", err)
		}
		close(client.release)
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(mem.sent()); n != 1 {
			t.Errorf("%d messages sent, want the 1 whose outcome was unknown to its caller", n)
		}
	})
}

// Close's deadline ends a hanging flush: in-flight sends fail with a
// SendError matching ErrOutcomeUnknown, sends never started with one that
// does not; Close returns context.DeadlineExceeded. Cancelling Close's ctx
// does not cut the flush short.
func TestCloseDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := newBlocking(&memorySQS{})
		p, err := producer.New(context.Background(), client, producer.Options{BatchLinger: -1, QueueURL: fakeURL, Concurrency: 1, MaxEvents: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		inFlight := publishAsync(ctx, p, "a", ev("a", 0))
		synctest.Wait() // a's call hangs
		waiting := publishAsync(ctx, p, "b", ev("b", 0))
		synctest.Wait() // b waits for the call slot

		closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cancelled, cancelNow := context.WithCancel(closeCtx)
		cancelNow() // cancelled but with a deadline: Close still flushes until the deadline
		start := time.Now()
		err = p.Close(cancelled)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Close returned after %v, want the 5s deadline", d)
		}
		err = <-inFlight
		if se, ok := isSendError(err); !ok || !errors.Is(err, producer.ErrOutcomeUnknown) || se.AppID != "a" {
			t.Errorf("in-flight Publish = %v, want a SendError for app a matching ErrOutcomeUnknown", err)
		}
		err = <-waiting
		if se, ok := isSendError(err); !ok || errors.Is(err, producer.ErrOutcomeUnknown) || se.AppID != "b" {
			t.Errorf("never-sent Publish = %v, want a SendError for app b not matching ErrOutcomeUnknown", err)
		}
		if err := p.Publish(ctx, "a", ev("a", 1)); !errors.Is(err, producer.ErrClosed) {
			t.Errorf("Publish after Close = %v, want ErrClosed", err)
		}
	})
}

// Publish waiting for buffer room when Close starts gets ErrClosed.
func TestCloseWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := newBlocking(&memorySQS{})
		p, err := producer.New(context.Background(), client, producer.Options{BatchLinger: -1, QueueURL: fakeURL, BufferEvents: 1})
		if err != nil {
			t.Fatal(err)
		}
		first := publishAsync(context.Background(), p, "a", ev("a", 0))
		synctest.Wait()
		waiter := publishAsync(context.Background(), p, "a", ev("a", 1))
		synctest.Wait()
		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		if err := <-waiter; !errors.Is(err, producer.ErrClosed) {
			t.Errorf("waiting Publish = %v, want ErrClosed", err)
		}
		close(client.release)
		if err := <-first; err != nil {
			t.Errorf("first Publish = %v", err)
		}
		if err := <-closed; err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

// SendMessageBatch calls carry at most 10 entries and 1 MiB.
func TestBatchLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		envelopes int
		dataBytes int
		wantCalls []int
	}{
		{"entries", 25, 10, []int{1, 10, 10, 4}},
		{"bytes", 5, 400 << 10, []int{1, 2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := &memorySQS{MaximumMessageSize: 1 << 20}
				client := newBlocking(mem)
				p, _ := newProducer(t, client, producer.Options{BatchLinger: -1, QueueURL: fakeURL, Concurrency: 1, MaxEvents: 1, MaxEnvelopeBytes: 500 << 10})
				var results []<-chan error
				for i := range tc.envelopes {
					e := ev("app", i)
					e.Data = strings.Repeat("x", tc.dataBytes)
					results = append(results, publishAsync(context.Background(), p, "app", e))
					synctest.Wait() // in order: the first call takes one envelope and hangs
				}
				close(client.release)
				for _, r := range results {
					if err := <-r; err != nil {
						t.Fatal(err)
					}
				}
				mem.mu.Lock()
				defer mem.mu.Unlock()
				if !equalInts(mem.calls, tc.wantCalls) {
					t.Errorf("entries per call %v, want %v", mem.calls, tc.wantCalls)
				}
				for i, b := range mem.bytes {
					if b > 1<<20 {
						t.Errorf("call %d carries %d bytes, over 1 MiB", i, b)
					}
				}
			})
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// On FIFO queues an app never has two envelopes in flight, so its order
// holds even with several calls in flight.
func TestFIFOOneEnvelopePerAppInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memorySQS{}
		client := newBlocking(mem)
		p, _ := newProducer(t, client, producer.Options{BatchLinger: -1, QueueURL: fakeURL + ".fifo", FIFO: true, MaxEvents: 1, Concurrency: 4})
		var results []<-chan error
		for i := range 3 {
			results = append(results, publishAsync(context.Background(), p, "a", ev("a", i)))
			synctest.Wait()
		}
		results = append(results, publishAsync(context.Background(), p, "b", ev("b", 0)))
		synctest.Wait()
		if got := client.started(); got != 2 {
			t.Fatalf("%d calls in flight, want 2 (one per app)", got)
		}
		close(client.release)
		for _, r := range results {
			if err := <-r; err != nil {
				t.Fatal(err)
			}
		}
		var order []string
		for _, m := range mem.sent() {
			env, _ := payload.Decode([]byte(aws.ToString(m.MessageBody)))
			if aws.ToString(m.MessageGroupId) != env.AppID || aws.ToString(m.MessageDeduplicationId) != env.ID {
				t.Errorf("group %q dedup %q for envelope %s of %s", aws.ToString(m.MessageGroupId), aws.ToString(m.MessageDeduplicationId), env.ID, env.AppID)
			}
			if env.AppID == "a" {
				order = append(order, env.Events[0].UserID)
			}
		}
		if got := strings.Join(order, " "); got != "a/0 a/1 a/2" {
			t.Errorf("app a sent in order %s, want a/0 a/1 a/2", got)
		}
	})
}

// Invalid calls enqueue nothing and say why.
func TestPublishValidation(t *testing.T) {
	mem := &memorySQS{}
	p, _ := newProducer(t, mem, producer.Options{QueueURL: fakeURL, MaxEnvelopeBytes: 2048, BufferEvents: 10})
	ctx := context.Background()
	big := ev("app", 1)
	big.Data = strings.Repeat("x", 4096)
	for _, tc := range []struct {
		name   string
		app    string
		events []payload.Event
		want   string
	}{
		{"missing name", "app", []payload.Event{ev("app", 0), {Channel: "c"}}, `events[1]: missing "name"`},
		{"negative time", "app", []payload.Event{{Name: "x", TimeMS: -1}}, `events[0]: "time_ms": negative (-1)`},
		{"too large", "app", []payload.Event{ev("app", 0), big}, "events[1] encodes to 4"},
		{"empty app", "", []payload.Event{ev("app", 0)}, "empty app id"},
		{"over buffer", "app", make([]payload.Event, 11), "11 events in one call; the buffer holds 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Publish(ctx, tc.app, tc.events...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Publish = %v, want an error containing %q", err, tc.want)
			}
			if tc.name == "too large" && (!errors.Is(err, producer.ErrTooLarge) || !strings.Contains(err.Error(), "limit is 2048")) {
				t.Errorf("Publish = %v, want ErrTooLarge naming the limit 2048", err)
			}
			if tc.name != "too large" && !errors.Is(err, producer.ErrInvalid) {
				t.Errorf("Publish = %v, want it to match ErrInvalid", err)
			}
		})
	}
	if err := p.PublishEnvelope(ctx, &payload.Envelope{V: payload.Version, ID: "x", AppID: "app", Events: []payload.Event{big}}); !errors.Is(err, producer.ErrTooLarge) {
		t.Errorf("PublishEnvelope(too large) = %v, want ErrTooLarge", err)
	}
	if err := p.PublishEnvelope(ctx, &payload.Envelope{V: payload.Version, AppID: "app", Events: []payload.Event{ev("app", 0)}}); err == nil {
		t.Error("PublishEnvelope without id = nil, want an error")
	}
	if n := len(mem.sent()); n != 0 {
		t.Errorf("%d messages sent by invalid calls", n)
	}
	if err := p.Publish(ctx, "app"); err != nil {
		t.Errorf("Publish without events = %v, want nil", err)
	}
}

// getAttrsSQS answers GetQueueAttributes with a fixed MaximumMessageSize or
// error.
type getAttrsSQS struct {
	memorySQS
	err error
}

func (f *getAttrsSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.memorySQS.GetQueueAttributes(ctx, in, o...)
}

func TestNewOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		client producer.SQS
		opts   producer.Options
		want   string
	}{
		{"no url", &memorySQS{}, producer.Options{}, "Options.QueueURL: required"},
		{"fifo on standard", &memorySQS{}, producer.Options{QueueURL: fakeURL, FIFO: true}, "Options.FIFO is true"},
		{"standard on fifo", &memorySQS{}, producer.Options{QueueURL: fakeURL + ".fifo"}, "is a FIFO queue"},
		{"negative", &memorySQS{}, producer.Options{QueueURL: fakeURL, Concurrency: -1}, "Options.Concurrency: -1 is negative"},
		{"queue unreadable", &getAttrsSQS{err: errors.New("boom")}, producer.Options{QueueURL: fakeURL}, "read MaximumMessageSize"},
		{"queue too small", &memorySQS{MaximumMessageSize: 1024}, producer.Options{QueueURL: fakeURL}, "leaves no room"},
		{"nil client", nil, producer.Options{QueueURL: fakeURL}, "nil SQS client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := producer.New(ctx, tc.client, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		queueMax, opt, want int
	}{
		{262144, 0, 64 << 10},
		{4096, 0, 3072},
		{1 << 20, 900 << 10, 900 << 10},
		{262144, 1 << 20, 262144 - 1024},
	} {
		p, err := producer.New(ctx, &memorySQS{MaximumMessageSize: tc.queueMax}, producer.Options{QueueURL: fakeURL, MaxEnvelopeBytes: tc.opt})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.MaxEnvelopeBytes(); got != tc.want {
			t.Errorf("queue max %d, option %d: MaxEnvelopeBytes() = %d, want %d", tc.queueMax, tc.opt, got, tc.want)
		}
		_ = p.Close(ctx)
	}
}

// Envelopes fill up to MaxEnvelopeBytes, never above.
func TestPacksByBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memorySQS{}
		p, _ := newProducer(t, mem, producer.Options{QueueURL: fakeURL, MaxEnvelopeBytes: 4096, Linger: time.Hour})
		var evs []payload.Event
		for i := range 40 {
			e := ev("app", i)
			e.Data = strings.Repeat("<é>", 30) // multi-byte and HTML characters, not escaped
			evs = append(evs, e)
		}
		res := publishAsync(context.Background(), p, "app", evs...)
		synctest.Wait()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range mem.sent() {
			body := aws.ToString(m.MessageBody)
			env, err := payload.Decode([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			n += len(env.Events)
			if len(body) > 4096 {
				t.Errorf("envelope of %d bytes, limit 4096", len(body))
			}
			// Full envelopes leave less room than one more event needs.
			if len(body) < 4096-300 && n < 40 {
				t.Errorf("envelope of %d bytes sealed early", len(body))
			}
		}
		if n != 40 {
			t.Errorf("%d events sent, want 40", n)
		}
	})
}

// failingSQS fails every call with err.
type failingSQS struct {
	memorySQS
	err   error
	mu    sync.Mutex
	calls int
}

func (f *failingSQS) SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return nil, f.err
}

// Retries are bounded; the error names the attempts and, after a network
// error, the unknown outcome. A whole-call client fault is not retried.
func TestRetriesBounded(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		wantCalls   int
		wantUnknown bool
		wantFault   bool
		wantCode    string
	}{
		{"network", errors.New("connection reset"), 5, true, false, ""},
		{"throttled", apiErr("RequestThrottled"), 5, false, false, "RequestThrottled"},
		{"access denied", apiErr("AccessDenied"), 1, false, true, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &failingSQS{err: tc.err}
				p, reg := newProducer(t, f, producer.Options{QueueURL: fakeURL})
				err := p.Publish(context.Background(), "app", ev("app", 0))
				se, ok := isSendError(err)
				if !ok || se.Code != tc.wantCode || se.SenderFault != tc.wantFault || errors.Is(err, producer.ErrOutcomeUnknown) != tc.wantUnknown {
					t.Fatalf("Publish = %#v, want SendError code %q fault %t unknown %t", err, tc.wantCode, tc.wantFault, tc.wantUnknown)
				}
				if f.calls != tc.wantCalls {
					t.Errorf("%d calls, want %d", f.calls, tc.wantCalls)
				}
				if got := metric(t, reg, "hookline_producer_retries_total"); got != float64(tc.wantCalls-1) {
					t.Errorf("retries_total = %v, want %d", got, tc.wantCalls-1)
				}
				if got := metric(t, reg, "hookline_producer_sqs_calls_total"); got != float64(tc.wantCalls) {
					t.Errorf("sqs_calls_total = %v, want %d (every call, all failed)", got, tc.wantCalls)
				}
			})
		})
	}
}

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "injected", Fault: smithy.FaultClient}
}

// Envelopes of different apps sealed within BatchLinger of each other share
// one SendMessageBatch call: ten apps publishing at once cost one call of
// ten entries, not ten calls of one.
func TestBatchLingerFillsCallsAcrossApps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memorySQS{MaximumMessageSize: 1 << 20}
		p, _ := newProducer(t, mem, producer.Options{QueueURL: fakeURL, Linger: time.Millisecond, BatchLinger: 50 * time.Millisecond})
		var results []<-chan error
		for i := range 13 {
			app := "app-" + strconv.Itoa(i)
			results = append(results, publishAsync(context.Background(), p, app, ev(app, i)))
			time.Sleep(2 * time.Millisecond) // the apps' POSTs arrive a little apart
		}
		for _, r := range results {
			if err := <-r; err != nil {
				t.Fatal(err)
			}
		}
		mem.mu.Lock()
		defer mem.mu.Unlock()
		if !equalInts(mem.calls, []int{10, 3}) {
			t.Errorf("entries per call %v, want [10 3]: calls filled across apps", mem.calls)
		}
	})
}

// On FIFO queues an envelope whose events carry their own ids gets an id
// (its MessageDeduplicationId) derived from them: publishing the same
// events again gives the same id, so SQS accepts them once; other events,
// or events without ids, get other ids.
func TestFIFOEnvelopeIDFromEventIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &memorySQS{}
		p, _ := newProducer(t, mem, producer.Options{BatchLinger: -1, QueueURL: fakeURL + ".fifo", FIFO: true})
		withIDs := func(prefix string) []payload.Event {
			evs := []payload.Event{ev("a", 0), ev("a", 1)}
			for i := range evs {
				evs[i].ID = prefix + ":" + strconv.Itoa(i)
			}
			return evs
		}
		for _, evs := range [][]payload.Event{withIDs("p1"), withIDs("p1"), withIDs("p2"), {ev("a", 0), ev("a", 1)}} {
			if err := p.Publish(context.Background(), "a", evs...); err != nil {
				t.Fatal(err)
			}
		}
		var dedup []string
		for _, m := range mem.sent() {
			env, _ := payload.Decode([]byte(aws.ToString(m.MessageBody)))
			if aws.ToString(m.MessageDeduplicationId) != env.ID {
				t.Errorf("dedup id %q for envelope %q", aws.ToString(m.MessageDeduplicationId), env.ID)
			}
			dedup = append(dedup, env.ID)
		}
		if len(dedup) != 4 {
			t.Fatalf("%d messages, want 4", len(dedup))
		}
		if dedup[0] != dedup[1] || !strings.HasPrefix(dedup[0], "ev-") {
			t.Errorf("the same events twice: ids %q and %q, want the same ev-<hash>", dedup[0], dedup[1])
		}
		if dedup[2] == dedup[0] || dedup[3] == dedup[0] || strings.HasPrefix(dedup[3], "ev-") {
			t.Errorf("other events %q, events without ids %q: want ids of their own (not %q)", dedup[2], dedup[3], dedup[0])
		}
	})
}
