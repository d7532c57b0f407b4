package dlq

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Inspect defaults.
const (
	// DefaultInspectLimit is how many matching messages Inspect returns.
	DefaultInspectLimit = 10
	// DefaultInspectVisibility is how long a sampled message stays
	// invisible if Inspect cannot release it (it releases the sample at
	// once when done).
	DefaultInspectVisibility = 5 * time.Second
	// DefaultInspectScan is how many messages Inspect reads at most while
	// looking for matches.
	DefaultInspectScan = 1000
)

// inspectWait is the receives' long-poll wait: a short poll samples only
// some SQS servers and can come back empty from a queue that has messages.
const inspectWait = time.Second

// InspectOptions configure Inspect. Zero fields take the defaults.
type InspectOptions struct {
	// Limit is the most matching messages returned. Default 10.
	Limit int
	// Filter selects the messages returned; the others are read and
	// released.
	Filter Filter
	// Visibility is the visibility timeout of the receives, whole seconds,
	// at least 1 s: the longest a sampled message stays hidden if the
	// release at the end fails or the process dies. Default 5 s.
	Visibility time.Duration
	// MaxScan is the most messages read in all. Default 1000.
	MaxScan int
}

func (o InspectOptions) withDefaults() InspectOptions {
	if o.Limit <= 0 {
		o.Limit = DefaultInspectLimit
	}
	if o.Visibility < time.Second {
		o.Visibility = DefaultInspectVisibility
	}
	if o.MaxScan <= 0 {
		o.MaxScan = DefaultInspectScan
	}
	o.MaxScan = max(o.MaxScan, o.Limit)
	return o
}

// Sample is what Inspect found.
type Sample struct {
	// Messages are the matching messages, at most Limit, each once.
	Messages []*Message
	// Scanned is how many distinct messages were read.
	Scanned int
	// Depth is the DLQ's approximate count before the sample was taken.
	Depth Depth
	// Unreleased counts sampled messages SQS would not make visible again
	// at once; they reappear after the visibility timeout.
	Unreleased int
}

// Inspect reads a sample of the DLQ without deleting anything: it receives
// with a short visibility timeout, keeps each message once (by MessageId),
// and makes every received message visible again when done. It stops at
// Limit matches, after MaxScan messages, or when a receive brings nothing
// new (an empty receive is believed when the queue reports nothing
// visible; otherwise three in a row end it).
func Inspect(ctx context.Context, api API, url string, opts InspectOptions) (*Sample, error) {
	opts = opts.withDefaults()
	depth, err := QueueDepth(ctx, api, url)
	if err != nil {
		return nil, err
	}
	s := &Sample{Depth: depth}
	held := map[string]types.Message{} // by MessageId, the latest receipt
	defer func() {
		// Release under a context of its own: an interrupted inspect must
		// still give the sample back.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		defer cancel()
		s.Unreleased, _ = release(rctx, api, url, slices.Collect(maps.Values(held)))
	}()
	idle := 0
	for len(s.Messages) < opts.Limit && s.Scanned < opts.MaxScan && idle < idleReceives {
		msgs, err := receive(ctx, api, url, opts.MaxScan-s.Scanned, opts.Visibility, inspectWait)
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, raw := range msgs {
			m := Parse(raw)
			_, dup := held[m.MessageID]
			held[m.MessageID] = raw
			if dup {
				continue
			}
			fresh++
			s.Scanned++
			if len(s.Messages) < opts.Limit && opts.Filter.Match(m) {
				s.Messages = append(s.Messages, m)
			}
		}
		switch {
		case len(msgs) == 0 && !visibleLeft(ctx, api, url):
			return s, ctx.Err() // nil unless interrupted
		case fresh == 0:
			idle++
		default:
			idle = 0
		}
	}
	return s, nil
}
