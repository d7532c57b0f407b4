package producer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/hookline/hookline/payload"
)

// errNotSent fails envelopes still waiting to be sent at Close's deadline.
var errNotSent = errors.New("producer: not sent before the close deadline")

// noSDKRetries turns the SDK's retries off for one call: the producer
// retries in one place, sendBatch.
func noSDKRetries(o *sqs.Options) { o.RetryMaxAttempts = 1 }

// throttlingCodes are client-fault codes that mean "slow down": retried,
// and SQS did not take the messages.
var throttlingCodes = map[string]bool{
	"RequestThrottled":        true,
	"ThrottlingException":     true,
	"Throttling":              true,
	"TooManyRequests":         true,
	"KmsThrottled":            true,
	"KMS.ThrottlingException": true,
}

// classify sorts a whole-call error once: its AWS error code (""
// when it is not an AWS error), whether to retry, and whether SQS may have
// taken the messages anyway.
func classify(err error) (code string, retry, maybeSent bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", true, true // network error or timeout: the request may have arrived
	}
	code = ae.ErrorCode()
	switch {
	case throttlingCodes[code]:
		return code, true, false
	case ae.ErrorFault() == smithy.FaultClient:
		return code, false, false
	default:
		return code, true, true
	}
}

// sendBatch sends envelopes in one SendMessageBatch call and retries what
// may succeed later, with backoff, until every envelope settled. It is the
// only place the producer retries.
func (p *Producer) sendBatch(batch []*envelope) {
	defer p.wg.Done()
	defer p.batchDone(batch)

	todo := p.encode(batch)
	bo := backoff.WithMaxRetries(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(0),
	), maxAttempts-1)
	for attempt := 1; len(todo) > 0; attempt++ {
		todo = p.attempt(todo)
		if len(todo) == 0 {
			return
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			for _, e := range todo {
				e.lastErr = fmt.Errorf("producer: gave up after %d attempts: %w", attempt, e.lastErr)
				p.settle(e, false)
			}
			return
		}
		p.m.retries.Add(float64(len(todo)))
		p.log.Debug("producer: retrying envelopes", "envelopes", len(todo), "attempt", attempt, "wait", wait,
			"code", todo[0].code, "error", todo[0].lastErr)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.sendCtx.Done():
			t.Stop()
			for _, e := range todo {
				e.lastErr = fmt.Errorf("producer: not re-sent before the close deadline after %d attempts: %w", attempt, e.lastErr)
				p.settle(e, false)
			}
			return
		}
	}
}

// batchDone frees the call slot (and, FIFO, the batch's apps) and starts
// the next call.
func (p *Producer) batchDone(batch []*envelope) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	if p.opts.FIFO {
		for _, e := range batch {
			delete(p.busy, e.appID)
		}
	}
	p.dispatchLocked()
}

// envelopeID is a new envelope's id. On FIFO queues, where it is the
// MessageDeduplicationId, an envelope whose events all carry their own ids
// gets an id derived from them: the same events published again within
// SQS's 5-minute deduplication window (a sender retrying after an unknown
// outcome, say) are accepted once. Otherwise Options.NewID makes it.
func (p *Producer) envelopeID(e *envelope) string {
	if !p.opts.FIFO {
		return p.opts.NewID()
	}
	h := sha256.New()
	io.WriteString(h, e.appID)
	for i := range e.events {
		if e.events[i].ID == "" {
			return p.opts.NewID()
		}
		h.Write([]byte{0})
		io.WriteString(h, e.events[i].ID)
	}
	return "ev-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// encode gives each new envelope its id and body, failing those that cannot
// be encoded; it returns the rest.
func (p *Producer) encode(batch []*envelope) []*envelope {
	todo := make([]*envelope, 0, len(batch))
	for _, e := range batch {
		if e.body == "" {
			e.id = p.envelopeID(e)
			b, err := payload.Encode(&payload.Envelope{V: payload.Version, ID: e.id, AppID: e.appID, Events: e.events})
			switch {
			case err != nil:
				e.lastErr = fmt.Errorf("producer: encode envelope (Options.NewID?): %w", err)
			case len(b) > p.maxBytes:
				e.lastErr = fmt.Errorf("%w: envelope %q encodes to %d bytes; the limit is %d (Options.NewID made an id that needs escaping?)",
					ErrTooLarge, e.id, len(b), p.maxBytes)
			}
			if e.lastErr != nil {
				p.settle(e, false)
				continue
			}
			e.body = string(b)
			e.size = len(b)
		}
		todo = append(todo, e)
	}
	return todo
}

// attempt makes one SendMessageBatch call for batch, settles the envelopes
// SQS accepted or refused for good, and returns those to retry.
func (p *Producer) attempt(batch []*envelope) []*envelope {
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(e.body)}
		switch {
		case p.opts.FIFO:
			entries[i].MessageGroupId = aws.String(e.appID)
			entries[i].MessageDeduplicationId = aws.String(e.id)
		case p.opts.FairQueues:
			entries[i].MessageGroupId = aws.String(e.appID)
		}
	}
	ctx, cancel := context.WithTimeout(p.sendCtx, callTimeout)
	out, err := p.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.opts.QueueURL), Entries: entries}, noSDKRetries)
	cancel()
	p.m.batchCalls.Inc()
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	p.m.sqsCalls.WithLabelValues("SendMessageBatch", outcome).Inc()

	if err != nil {
		code, retry, maybeSent := classify(err)
		p.m.callErrors.WithLabelValues(code).Inc()
		for _, e := range batch {
			e.code, e.senderFault, e.lastErr = code, !retry, fmt.Errorf("producer: SendMessageBatch: %w", err)
			e.maybeSent = e.maybeSent || maybeSent
		}
		if !retry || p.sendCtx.Err() != nil {
			for _, e := range batch {
				p.settle(e, false)
			}
			return nil
		}
		return batch
	}

	settled := make([]bool, len(batch))
	index := func(id *string) (int, bool) {
		i, err := strconv.Atoi(aws.ToString(id))
		if err != nil || i < 0 || i >= len(batch) || settled[i] {
			return 0, false
		}
		settled[i] = true
		return i, true
	}
	for _, s := range out.Successful {
		if i, ok := index(s.Id); ok {
			p.settle(batch[i], true)
		}
	}
	var retry []*envelope
	for _, f := range out.Failed {
		i, ok := index(f.Id)
		if !ok {
			continue
		}
		e := batch[i]
		e.code, e.senderFault = aws.ToString(f.Code), f.SenderFault
		e.lastErr = fmt.Errorf("producer: SendMessageBatch entry failed: %s: %s", e.code, aws.ToString(f.Message))
		p.m.failedEntries.WithLabelValues(e.code).Inc()
		if f.SenderFault {
			p.settle(e, false)
		} else {
			retry = append(retry, e)
		}
	}
	for i, done := range settled {
		if !done { // in neither list: SQS's answer is unknown
			e := batch[i]
			e.code, e.senderFault, e.maybeSent = "", false, true
			e.lastErr = errors.New("producer: SendMessageBatch answered neither success nor failure for the entry")
			retry = append(retry, e)
		}
	}
	return retry
}

// settle ends e: sent, or failed with the SendError its fields describe. It
// frees e's buffer room and reports to every call with events in it.
func (p *Producer) settle(e *envelope, sent bool) {
	p.buf.release(e.n)
	if sent {
		p.m.envelopesSent.Inc()
		p.m.eventsPublished.Add(float64(e.n))
	} else {
		p.m.eventsFailed.Add(float64(e.n))
	}
	for _, pt := range e.parts {
		var err error
		if !sent {
			cause := e.lastErr
			if e.maybeSent {
				cause = fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)
			}
			err = &SendError{AppID: e.appID, Events: pt.n, Code: e.code, SenderFault: e.senderFault, Err: cause}
		}
		pt.c.finish(err)
	}
	e.events, e.parts = nil, nil
}
