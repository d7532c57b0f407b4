package producer_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hookline/hookline/payload"
	"github.com/hookline/hookline/producer"
)

// discardSQS accepts every message and keeps nothing.
type discardSQS struct{ memorySQS }

func (*discardSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// BenchmarkPublish measures the producer's own cost against an in-memory
// SQS: many goroutines publishing one event each (envelopes fill by count,
// MaxEvents 100), and one goroutine publishing calls of 100 events.
func BenchmarkPublish(b *testing.B) {
	event := payload.Event{Name: payload.EventMemberAdded, Channel: "presence-chat", UserID: "u1", TimeMS: 1678886400100}
	b.Run("parallel-1-event", func(b *testing.B) {
		p, err := producer.New(context.Background(), &discardSQS{}, producer.Options{QueueURL: fakeURL, Linger: time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(64)
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if err := p.Publish(context.Background(), "app-"+strconv.Itoa(i%4), event); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		_ = p.Close(context.Background())
	})
	b.Run("100-events-per-call", func(b *testing.B) {
		p, err := producer.New(context.Background(), &discardSQS{}, producer.Options{QueueURL: fakeURL})
		if err != nil {
			b.Fatal(err)
		}
		evs := make([]payload.Event, 100)
		for i := range evs {
			evs[i] = event
		}
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if err := p.Publish(context.Background(), "app", evs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/time.Since(start).Seconds(), "events/s")
		_ = p.Close(context.Background())
	})
}
