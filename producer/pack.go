package producer

import (
	"time"

	"github.com/hookline/hookline/payload"
)

// envelope is one SQS message in the making: open (accepting events of its
// app), pending (sealed, waiting for a call slot) or in flight.
type envelope struct {
	appID  string
	events []payload.Event // nil for a pre-built envelope
	n      int             // events
	size   int             // encoded size, an upper bound until body is set
	parts  []part          // whose events these are, in order
	timer  *time.Timer     // the linger timer while open
	sealed time.Time       // when it joined pending

	// Set when the envelope is encoded (at once for PublishEnvelope); kept
	// across retries so a re-send is the same message.
	id   string
	body string

	// The last failure, for the SendError.
	code        string
	senderFault bool
	lastErr     error
	maybeSent   bool // an attempt's outcome was unknown
}

// part is n consecutive events of one call in an envelope.
type part struct {
	c *call
	n int
}

// headerSize is the encoded size of an envelope of appID without its
// events and the commas between them, for a 128-byte id (the longest payload
// accepts) that needs no escaping.
func headerSize(appID string) int {
	return payload.EnvelopeOverhead("", appID) + maxIDLen
}

// addLocked appends one event of call c to appID's open envelope, sealing
// it first when the event would not fit and after when it is full.
func (p *Producer) addLocked(appID string, header int, ev payload.Event, size int, c *call) {
	e := p.open[appID]
	if e != nil && (e.n >= p.opts.MaxEvents || e.size+1+size > p.maxBytes) {
		p.sealLocked(e)
		e = nil
	}
	if e == nil {
		e = &envelope{appID: appID, size: header}
		p.open[appID] = e
		e.timer = time.AfterFunc(p.opts.Linger, func() { p.expire(e) })
	} else {
		e.size++ // the comma
	}
	e.events = append(e.events, ev)
	e.n++
	e.size += size
	if k := len(e.parts); k > 0 && e.parts[k-1].c == c {
		e.parts[k-1].n++
	} else {
		e.parts = append(e.parts, part{c: c, n: 1})
		c.ref()
	}
	if e.n >= p.opts.MaxEvents {
		p.sealLocked(e)
	}
}

// sealLocked closes an open envelope to more events and queues it to send.
func (p *Producer) sealLocked(e *envelope) {
	e.timer.Stop()
	delete(p.open, e.appID)
	e.sealed = time.Now()
	p.pending = append(p.pending, e)
}

// expire seals e when its linger ends, unless it was sealed already.
func (p *Producer) expire(e *envelope) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[e.appID] == e {
		p.sealLocked(e)
		p.dispatchLocked()
	}
}

// dispatchLocked starts SendMessageBatch calls for pending envelopes while
// call slots are free; after Close's deadline it fails them instead.
func (p *Producer) dispatchLocked() {
	for p.inflight < p.opts.Concurrency && len(p.pending) > 0 {
		if !p.batchDueLocked() {
			break // a partial batch waits for more envelopes, up to BatchLinger
		}
		if err := p.sendCtx.Err(); err != nil {
			for _, e := range p.pending {
				e.lastErr = errNotSent
				p.settle(e, false)
			}
			p.pending = nil
			break
		}
		batch := p.takeLocked()
		if len(batch) == 0 {
			break // FIFO: every pending app has an envelope in flight
		}
		p.inflight++
		p.wg.Add(1)
		go p.sendBatch(batch)
	}
	if p.closed && !p.isDrain && len(p.open) == 0 && len(p.pending) == 0 && p.inflight == 0 {
		p.isDrain = true
		close(p.drained)
	}
}

// batchDueLocked reports whether a SendMessageBatch call should go out now:
// a full one at once, a partial one when its oldest envelope has waited
// Options.BatchLinger for others (of any app) to fill it, or on Close. When
// it must wait, a timer dispatches again at the end of that linger.
func (p *Producer) batchDueLocked() bool {
	if p.closed || p.opts.BatchLinger < 0 || len(p.pending) >= maxBatchEntries || p.sendCtx.Err() != nil {
		return true
	}
	size := 0
	oldest := p.pending[0].sealed
	for _, e := range p.pending {
		size += e.size
		if e.sealed.Before(oldest) {
			oldest = e.sealed
		}
	}
	if size >= maxBatchBytes {
		return true
	}
	wait := time.Until(oldest.Add(p.opts.BatchLinger))
	if wait <= 0 {
		return true
	}
	if p.batchTimer == nil {
		p.batchTimer = time.AfterFunc(wait, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.batchTimer = nil
			p.dispatchLocked()
		})
	}
	return false
}

// takeLocked removes the next call's envelopes from pending, in order: at
// most maxBatchEntries and maxBatchBytes; on FIFO queues at most one per
// app and none of an app that has one in flight.
func (p *Producer) takeLocked() []*envelope {
	var batch, rest []*envelope
	size := 0
	for i, e := range p.pending {
		full := len(batch) == maxBatchEntries || (len(batch) > 0 && size+e.size > maxBatchBytes)
		if full && !p.opts.FIFO {
			rest = append(rest, p.pending[i:]...)
			break
		}
		if full || (p.opts.FIFO && p.busy[e.appID]) {
			rest = append(rest, e)
			continue
		}
		batch = append(batch, e)
		size += e.size
		if p.opts.FIFO {
			p.busy[e.appID] = true
		}
	}
	p.pending = rest
	return batch
}
