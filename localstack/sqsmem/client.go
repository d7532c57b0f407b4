package sqsmem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Client is a client of a Server with the method set of *sqs.Client (the operations Hookline
// uses). Get one from Server.Client. It is safe for concurrent use.
type Client struct{ s *Server }

// dedupWindow is how long FIFO queues remember deduplication ids.
const dedupWindow = 5 * time.Minute

// purgeInterval is how often a queue may be purged.
const purgeInterval = 60 * time.Second

// params collects the SDK's client-side validation errors (required members).
type params struct{ e smithy.InvalidParamsError }

func newParams(input string) *params { return &params{e: smithy.InvalidParamsError{Context: input}} }

func (p *params) require(name string, missing bool) {
	if missing {
		p.e.Add(smithy.NewErrParamRequired(name))
	}
}

func (p *params) err(op string) error {
	if p.e.Len() == 0 {
		return nil
	}
	return opError(op, p.e)
}

// ---- ReceiveMessage ----

// ReceiveMessage receives up to MaxNumberOfMessages (default 1) messages. With a wait
// (WaitTimeSeconds, or the queue's ReceiveMessageWaitTimeSeconds) it returns as soon as at
// least one message is available, or empty after the wait, or with an error wrapping
// ctx.Err() when ctx is done first. Unlike a real short poll, which samples a subset of SQS's
// servers, a receive without wait sees every available message.
func (c *Client) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	const op = "ReceiveMessage"
	if in == nil {
		in = &sqs.ReceiveMessageInput{}
	}
	p := newParams("ReceiveMessageInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	url := *in.QueueUrl

	s.mu.Lock()
	q, err := s.queue(url)
	if err != nil {
		s.mu.Unlock()
		return nil, opError(op, err)
	}
	max := int(in.MaxNumberOfMessages)
	if max == 0 { // the SDK does not send 0: SQS's default applies
		max = 1
	}
	if max < 1 || max > maxReceiveMessages {
		s.mu.Unlock()
		return nil, opError(op, errInvalidParameter("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", in.MaxNumberOfMessages))
	}
	if in.VisibilityTimeout < 0 || in.VisibilityTimeout > maxVisibilitySeconds {
		s.mu.Unlock()
		return nil, opError(op, errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", in.VisibilityTimeout))
	}
	if in.WaitTimeSeconds < 0 || in.WaitTimeSeconds > maxWaitSeconds {
		s.mu.Unlock()
		return nil, opError(op, errInvalidParameter("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", in.WaitTimeSeconds))
	}
	wait := time.Duration(in.WaitTimeSeconds) * time.Second
	if in.WaitTimeSeconds == 0 { // not sent by the SDK: the queue's default applies
		wait = q.wait
	}
	deadline := time.Now().Add(wait)
	for {
		now := time.Now()
		if q = s.queues[url]; q == nil { // deleted while we waited
			s.mu.Unlock()
			return nil, opError(op, errQueueDoesNotExist())
		}
		vis := q.visibility
		if in.VisibilityTimeout > 0 {
			vis = time.Duration(in.VisibilityTimeout) * time.Second
		}
		msgs := s.take(q, now, max, vis)
		if len(msgs) > 0 || !now.Before(deadline) {
			out := &sqs.ReceiveMessageOutput{}
			for _, m := range msgs {
				out.Messages = append(out.Messages, receivedMessage(m, in))
			}
			s.mu.Unlock()
			return out, nil
		}
		d := deadline.Sub(now)
		if next := q.nextChange(now); !next.IsZero() && next.Sub(now) < d {
			d = next.Sub(now)
		}
		wake := q.waiter()
		s.mu.Unlock()

		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, opError(op, fmt.Errorf("canceled, %w", ctx.Err()))
		case <-wake:
		case <-t.C:
		}
		t.Stop()
		s.mu.Lock()
	}
}

// take receives up to max messages of q for vis, dead-lettering those past maxReceiveCount.
func (s *Server) take(q *queue, now time.Time, max int, vis time.Duration) []*message {
	q.expire(now)
	var out []*message
	for _, m := range q.candidates(now) {
		if len(out) == max {
			break
		}
		if s.redrive(q, m, now) {
			continue
		}
		s.deliver(q, m, now, vis)
		out = append(out, m)
	}
	return out
}

// receivedMessage builds the API view of m just received, with the attributes in asked for.
func receivedMessage(m *message, in *sqs.ReceiveMessageInput) types.Message {
	out := types.Message{
		MessageId:     aws.String(m.id),
		ReceiptHandle: aws.String(m.handle),
		Body:          aws.String(m.body),
		MD5OfBody:     aws.String(m.bodyMD5),
	}
	var names []string
	//lint:ignore SA1019 the legacy AttributeNames still selects system attributes on real SQS
	for _, n := range in.AttributeNames {
		names = append(names, string(n))
	}
	for _, n := range in.MessageSystemAttributeNames {
		names = append(names, string(n))
	}
	all := slices.Contains(names, "All")
	want := func(n types.MessageSystemAttributeName) bool { return all || slices.Contains(names, string(n)) }
	attrs := map[string]string{}
	put := func(n types.MessageSystemAttributeName, v string) {
		if v != "" && want(n) {
			attrs[string(n)] = v
		}
	}
	put(types.MessageSystemAttributeNameSenderId, AccountID)
	put(types.MessageSystemAttributeNameSentTimestamp, strconv.FormatInt(m.sent.UnixMilli(), 10))
	put(types.MessageSystemAttributeNameApproximateReceiveCount, itoa(m.receives))
	put(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp, strconv.FormatInt(m.firstReceive.UnixMilli(), 10))
	put(types.MessageSystemAttributeNameMessageGroupId, m.group)
	put(types.MessageSystemAttributeNameSequenceNumber, m.sequence)
	put(types.MessageSystemAttributeNameMessageDeduplicationId, m.dedupID)
	put(types.MessageSystemAttributeNameAWSTraceHeader, m.traceHeader)
	put(types.MessageSystemAttributeNameDeadLetterQueueSourceArn, m.dlqSource)
	if len(attrs) > 0 {
		out.Attributes = attrs
	}
	if len(m.attrs) > 0 && len(in.MessageAttributeNames) > 0 {
		sel := map[string]types.MessageAttributeValue{}
		for k, v := range m.attrs {
			if wantAttribute(in.MessageAttributeNames, k) {
				sel[k] = v
			}
		}
		if len(sel) > 0 {
			out.MessageAttributes = copyAttributes(sel)
			out.MD5OfMessageAttributes = aws.String(md5OfAttributes(sel))
		}
	}
	return out
}

// ---- SendMessage(Batch) ----

// sendEntry is one message to send, from SendMessage or one SendMessageBatch entry.
type sendEntry struct {
	body   *string
	delay  int32
	attrs  map[string]types.MessageAttributeValue
	system map[string]types.MessageSystemAttributeValue
	group  *string
	dedup  *string
}

type sendResult struct {
	messageID, bodyMD5, attrsMD5, sequence string
}

// SendMessage sends one message. DelaySeconds 0 means the queue's DelaySeconds (the SDK does
// not send 0).
func (c *Client) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	const op = "SendMessage"
	if in == nil {
		in = &sqs.SendMessageInput{}
	}
	p := newParams("SendMessageInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("MessageBody", in.MessageBody == nil)
	requireAttrTypes(p, "MessageAttributes", in.MessageAttributes)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	res, err := s.send(q, sendEntry{in.MessageBody, in.DelaySeconds, in.MessageAttributes, in.MessageSystemAttributes,
		in.MessageGroupId, in.MessageDeduplicationId}, time.Now())
	if err != nil {
		return nil, opError(op, err)
	}
	out := &sqs.SendMessageOutput{MessageId: aws.String(res.messageID), MD5OfMessageBody: aws.String(res.bodyMD5)}
	if res.attrsMD5 != "" {
		out.MD5OfMessageAttributes = aws.String(res.attrsMD5)
	}
	if res.sequence != "" {
		out.SequenceNumber = aws.String(res.sequence)
	}
	return out, nil
}

// SendMessageBatch sends up to 10 messages of at most 1 MiB in total; each entry succeeds or
// fails on its own.
func (c *Client) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	const op = "SendMessageBatch"
	if in == nil {
		in = &sqs.SendMessageBatchInput{}
	}
	p := newParams("SendMessageBatchInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("Entries", in.Entries == nil)
	for i, e := range in.Entries {
		p.require(fmt.Sprintf("Entries[%d].Id", i), e.Id == nil)
		p.require(fmt.Sprintf("Entries[%d].MessageBody", i), e.MessageBody == nil)
		requireAttrTypes(p, fmt.Sprintf("Entries[%d].MessageAttributes", i), e.MessageAttributes)
	}
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = *e.Id
		total += len(*e.MessageBody)
		for k, v := range e.MessageAttributes {
			total += len(k) + len(deref(v.DataType)) + len(deref(v.StringValue)) + len(v.BinaryValue)
		}
	}
	if err := checkBatch(ids, "SendMessageBatchRequestEntry"); err != nil {
		return nil, opError(op, err)
	}
	if total > maxBatchBytes {
		return nil, opError(op, errBatchTooLong(total))
	}
	faults := s.entryFaults(op, ids)

	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	out := &sqs.SendMessageBatchOutput{}
	now := time.Now()
	for i, e := range in.Entries {
		if faults[i] != "" {
			out.Failed = append(out.Failed, faultEntry(ids[i], faults[i]))
			continue
		}
		res, err := s.send(q, sendEntry{e.MessageBody, e.DelaySeconds, e.MessageAttributes, e.MessageSystemAttributes,
			e.MessageGroupId, e.MessageDeduplicationId}, now)
		if err != nil {
			out.Failed = append(out.Failed, entryError(ids[i], err))
			continue
		}
		r := types.SendMessageBatchResultEntry{Id: aws.String(ids[i]), MessageId: aws.String(res.messageID),
			MD5OfMessageBody: aws.String(res.bodyMD5)}
		if res.attrsMD5 != "" {
			r.MD5OfMessageAttributes = aws.String(res.attrsMD5)
		}
		if res.sequence != "" {
			r.SequenceNumber = aws.String(res.sequence)
		}
		out.Successful = append(out.Successful, r)
	}
	return out, nil
}

func requireAttrTypes(p *params, where string, attrs map[string]types.MessageAttributeValue) {
	for k, v := range attrs {
		p.require(where+"["+k+"].DataType", v.DataType == nil)
	}
}

// send validates e and enqueues it on q. Called with s.mu held.
func (s *Server) send(q *queue, e sendEntry, now time.Time) (sendResult, error) {
	body := deref(e.body)
	if body == "" {
		return sendResult{}, errMissingParameter("MessageBody")
	}
	if !validText(body) {
		return sendResult{}, errInvalidMessageContents()
	}
	attrSize, err := validateAttributes(e.attrs)
	if err != nil {
		return sendResult{}, err
	}
	if size := len(body) + attrSize; size > q.maxSize {
		return sendResult{}, errInvalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maxSize)
	}
	trace, err := validateSystemAttributes(e.system)
	if err != nil {
		return sendResult{}, err
	}
	if e.delay < 0 || e.delay > maxDelaySeconds {
		return sendResult{}, errInvalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", e.delay)
	}
	m := &message{body: body, bodyMD5: md5Hex(body), attrs: copyAttributes(e.attrs), traceHeader: trace,
		sent: now, retainFrom: now}
	m.attrsMD5 = md5OfAttributes(m.attrs)
	delay := time.Duration(e.delay) * time.Second
	if e.delay == 0 {
		delay = q.delay
	}
	m.visibleAt = now.Add(delay)
	if e.group != nil {
		if err := validGroupID("MessageGroupId", *e.group); err != nil {
			return sendResult{}, err
		}
		m.group = *e.group
	}
	if !q.fifo {
		if e.dedup != nil {
			return sendResult{}, errInvalidParameter("Value %s for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.", *e.dedup)
		}
		// MessageGroupId on a standard queue makes it a fair queue: kept and reported, no ordering.
	} else {
		if e.delay != 0 {
			return sendResult{}, errInvalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", e.delay)
		}
		if e.group == nil {
			return sendResult{}, errMissingParameter("MessageGroupId")
		}
		switch {
		case e.dedup != nil:
			if err := validGroupID("MessageDeduplicationId", *e.dedup); err != nil {
				return sendResult{}, err
			}
			m.dedupID = *e.dedup
		case q.attrs[attrContentBasedDedup] == "true":
			sum := sha256.Sum256([]byte(body))
			m.dedupID = hex.EncodeToString(sum[:])
		default:
			return sendResult{}, errInvalidParameter("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		key := m.dedupID
		if q.attrs[attrDeduplicationScope] == "messageGroup" {
			key = m.group + "\x00" + key
		}
		if d, ok := q.dedup[key]; ok && now.Before(d.at.Add(dedupWindow)) {
			return sendResult{messageID: d.messageID, bodyMD5: m.bodyMD5, attrsMD5: m.attrsMD5, sequence: d.sequence}, nil
		}
		q.seq++
		m.sequence = fmt.Sprintf("%020d", q.seq)
		m.id = s.newMessageID()
		q.dedup[key] = dedupEntry{messageID: m.id, sequence: m.sequence, at: now}
		for k, d := range q.dedup { // forget expired ids
			if !now.Before(d.at.Add(dedupWindow)) {
				delete(q.dedup, k)
			}
		}
	}
	if m.id == "" {
		m.id = s.newMessageID()
	}
	q.msgs = append(q.msgs, m)
	q.notify()
	return sendResult{messageID: m.id, bodyMD5: m.bodyMD5, attrsMD5: m.attrsMD5, sequence: m.sequence}, nil
}

// checkBatch applies SQS's batch-level checks to the entry ids.
func checkBatch(ids []string, entryType string) error {
	switch {
	case len(ids) == 0:
		return errEmptyBatch(entryType)
	case len(ids) > maxBatch:
		return errTooManyEntries(len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !validBatchID(id) {
			return errInvalidBatchEntryID(id)
		}
		if seen[id] {
			return errIDsNotDistinct(id)
		}
		seen[id] = true
	}
	return nil
}

// ---- DeleteMessage(Batch) ----

// DeleteMessage deletes the message of a receipt handle. A handle this server never issued
// (or issued for another queue) is ReceiptHandleIsInvalid; the handle of a message already
// deleted succeeds; an older handle of a message received again since behaves as set by
// SetStaleDelete; on FIFO queues a handle whose visibility timeout expired is
// InvalidParameterValue ("The receipt handle has expired."), as on real SQS.
func (c *Client) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	const op = "DeleteMessage"
	if in == nil {
		in = &sqs.DeleteMessageInput{}
	}
	p := newParams("DeleteMessageInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("ReceiptHandle", in.ReceiptHandle == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	if err := s.deleteMessage(q, *in.ReceiptHandle, time.Now()); err != nil {
		return nil, opError(op, err)
	}
	return &sqs.DeleteMessageOutput{}, nil
}

// DeleteMessageBatch deletes up to 10 messages; each entry as DeleteMessage, succeeding or
// failing on its own.
func (c *Client) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	const op = "DeleteMessageBatch"
	if in == nil {
		in = &sqs.DeleteMessageBatchInput{}
	}
	p := newParams("DeleteMessageBatchInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("Entries", in.Entries == nil)
	for i, e := range in.Entries {
		p.require(fmt.Sprintf("Entries[%d].Id", i), e.Id == nil)
		p.require(fmt.Sprintf("Entries[%d].ReceiptHandle", i), e.ReceiptHandle == nil)
	}
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = *e.Id
	}
	if err := checkBatch(ids, "DeleteMessageBatchRequestEntry"); err != nil {
		return nil, opError(op, err)
	}
	faults := s.entryFaults(op, ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	out := &sqs.DeleteMessageBatchOutput{}
	now := time.Now()
	for i, e := range in.Entries {
		switch {
		case faults[i] != "":
			out.Failed = append(out.Failed, faultEntry(ids[i], faults[i]))
		default:
			if err := s.deleteMessage(q, *e.ReceiptHandle, now); err != nil {
				out.Failed = append(out.Failed, entryError(ids[i], err))
			} else {
				out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: aws.String(ids[i])})
			}
		}
	}
	return out, nil
}

// deleteMessage deletes by receipt handle. Called with s.mu held.
func (s *Server) deleteMessage(q *queue, handle string, now time.Time) error {
	r := s.handles[handle]
	if r == nil || r.q != q {
		return errReceiptHandleIsInvalid(handle)
	}
	m := r.m
	switch {
	case m.gone:
		return nil // already deleted (or dead-lettered): nothing to do
	case m.handle != handle: // received again since
		if q.fifo {
			return errExpiredHandle(handle)
		}
		switch s.stale {
		case StaleDeleteDeletes:
			q.remove(m)
		case StaleDeleteRejected:
			return errExpiredHandle(handle)
		}
		return nil
	case q.fifo && !m.inFlight(now):
		return errExpiredHandle(handle)
	}
	q.remove(m)
	return nil
}

func errExpiredHandle(handle string) error {
	return errInvalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", handle)
}

// ---- ChangeMessageVisibility(Batch) ----

// ChangeMessageVisibility sets the visibility timeout of an in-flight message, counted from
// now (0 makes it visible at once). A handle this server never issued is
// ReceiptHandleIsInvalid. A handle of a deleted message, or an older handle of a message
// received again since, is InvalidParameterValue, as on real SQS (worker.lostHandle treats
// both as lost). The latest handle of a message whose timeout already expired succeeds and
// changes nothing, as real SQS does. The total time in flight after a receive may not exceed
// 12 hours (InvalidParameterValue).
func (c *Client) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	const op = "ChangeMessageVisibility"
	if in == nil {
		in = &sqs.ChangeMessageVisibilityInput{}
	}
	p := newParams("ChangeMessageVisibilityInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("ReceiptHandle", in.ReceiptHandle == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	if err := s.changeVisibility(q, *in.ReceiptHandle, in.VisibilityTimeout, time.Now()); err != nil {
		return nil, opError(op, err)
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// ChangeMessageVisibilityBatch changes the visibility of up to 10 messages; each entry as
// ChangeMessageVisibility, succeeding or failing on its own.
func (c *Client) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	const op = "ChangeMessageVisibilityBatch"
	if in == nil {
		in = &sqs.ChangeMessageVisibilityBatchInput{}
	}
	p := newParams("ChangeMessageVisibilityBatchInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("Entries", in.Entries == nil)
	for i, e := range in.Entries {
		p.require(fmt.Sprintf("Entries[%d].Id", i), e.Id == nil)
		p.require(fmt.Sprintf("Entries[%d].ReceiptHandle", i), e.ReceiptHandle == nil)
	}
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = *e.Id
	}
	if err := checkBatch(ids, "ChangeMessageVisibilityBatchRequestEntry"); err != nil {
		return nil, opError(op, err)
	}
	faults := s.entryFaults(op, ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	now := time.Now()
	for i, e := range in.Entries {
		if faults[i] != "" {
			out.Failed = append(out.Failed, faultEntry(ids[i], faults[i]))
			continue
		}
		if err := s.changeVisibility(q, *e.ReceiptHandle, e.VisibilityTimeout, now); err != nil {
			out.Failed = append(out.Failed, entryError(ids[i], err))
			continue
		}
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: aws.String(ids[i])})
	}
	return out, nil
}

// changeVisibility changes the visibility timeout by receipt handle. Called with s.mu held.
func (s *Server) changeVisibility(q *queue, handle string, secs int32, now time.Time) error {
	if secs < 0 || secs > maxVisibilitySeconds {
		return errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", secs)
	}
	r := s.handles[handle]
	if r == nil || r.q != q {
		return errReceiptHandleIsInvalid(handle)
	}
	m := r.m
	switch {
	case m.gone:
		return errInvalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
	case m.handle != handle:
		return errExpiredHandle(handle)
	case !m.inFlight(now):
		return nil // expired but not received again: real SQS answers OK and changes nothing
	}
	d := time.Duration(secs) * time.Second
	if now.Add(d).Sub(m.receivedAt) > maxVisibilitySeconds*time.Second {
		return errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].", secs)
	}
	m.visibleAt = now.Add(d)
	q.notify()
	return nil
}

// ---- Queues ----

// CreateQueue creates a queue, or returns the URL of an existing one whose attributes match
// those given (QueueAlreadyExists otherwise). A FIFO queue needs FifoQueue=true and a name
// ending in ".fifo", as on real SQS. Tags are accepted and ignored.
func (c *Client) CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, _ ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error) {
	const op = "CreateQueue"
	if in == nil {
		in = &sqs.CreateQueueInput{}
	}
	p := newParams("CreateQueueInput")
	p.require("QueueName", in.QueueName == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.createQueue(*in.QueueName, in.Attributes, time.Now())
	if err != nil {
		return nil, opError(op, err)
	}
	return &sqs.CreateQueueOutput{QueueUrl: aws.String(q.url)}, nil
}

// GetQueueUrl returns the URL of a queue by name.
func (c *Client) GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) { //nolint:revive // SDK name
	const op = "GetQueueUrl"
	if in == nil {
		in = &sqs.GetQueueUrlInput{}
	}
	p := newParams("GetQueueUrlInput")
	p.require("QueueName", in.QueueName == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.byName[*in.QueueName]
	if q == nil || (in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != AccountID) {
		return nil, opError(op, errQueueDoesNotExist())
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(q.url)}, nil
}

// GetQueueAttributes returns the named attributes ("All" for all); none when none are named,
// as on real SQS.
func (c *Client) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	const op = "GetQueueAttributes"
	if in == nil {
		in = &sqs.GetQueueAttributesInput{}
	}
	p := newParams("GetQueueAttributesInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	now := time.Now()
	q.expire(now)
	known := types.QueueAttributeName("").Values()
	var names []string
	for _, n := range in.AttributeNames {
		if !slices.Contains(known, n) {
			return nil, opError(op, errInvalidAttributeName("Unknown Attribute %s.", n))
		}
		if n == types.QueueAttributeNameAll {
			names = allAttributes
			break
		}
		names = append(names, string(n))
	}
	attrs := map[string]string{}
	for _, n := range names {
		if v, ok := q.attribute(n, now); ok {
			attrs[n] = v
		}
	}
	return &sqs.GetQueueAttributesOutput{Attributes: attrs}, nil
}

// SetQueueAttributes changes attributes of a queue (RedrivePolicy "" removes the policy).
func (c *Client) SetQueueAttributes(ctx context.Context, in *sqs.SetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error) {
	const op = "SetQueueAttributes"
	if in == nil {
		in = &sqs.SetQueueAttributesInput{}
	}
	p := newParams("SetQueueAttributesInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	p.require("Attributes", in.Attributes == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	norm, err := validateQueueAttributes(q.name, q.fifo, q, in.Attributes, func(arn string) *queue { return s.byARN[arn] })
	if err != nil {
		return nil, opError(op, err)
	}
	q.set(norm, time.Now())
	return &sqs.SetQueueAttributesOutput{}, nil
}

// PurgeQueue deletes every message of a queue at once (real SQS takes up to 60 s). A second
// purge within 60 s is PurgeQueueInProgress.
func (c *Client) PurgeQueue(ctx context.Context, in *sqs.PurgeQueueInput, _ ...func(*sqs.Options)) (*sqs.PurgeQueueOutput, error) {
	const op = "PurgeQueue"
	if in == nil {
		in = &sqs.PurgeQueueInput{}
	}
	p := newParams("PurgeQueueInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	now := time.Now()
	if !q.purged.IsZero() && now.Before(q.purged.Add(purgeInterval)) {
		return nil, opError(op, errPurgeInProgress(q.name))
	}
	q.purged = now
	for _, m := range q.msgs {
		q.remove(m)
	}
	return &sqs.PurgeQueueOutput{}, nil
}

// DeleteQueue deletes a queue and its messages; long polls on it end with QueueDoesNotExist.
// Unlike real SQS, the name can be reused at once.
func (c *Client) DeleteQueue(ctx context.Context, in *sqs.DeleteQueueInput, _ ...func(*sqs.Options)) (*sqs.DeleteQueueOutput, error) {
	const op = "DeleteQueue"
	if in == nil {
		in = &sqs.DeleteQueueInput{}
	}
	p := newParams("DeleteQueueInput")
	p.require("QueueUrl", in.QueueUrl == nil)
	if err := p.err(op); err != nil {
		return nil, err
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(*in.QueueUrl)
	if err != nil {
		return nil, opError(op, err)
	}
	for _, m := range q.msgs {
		q.remove(m)
	}
	delete(s.queues, q.url)
	delete(s.byName, q.name)
	delete(s.byARN, q.arn)
	q.notify()
	return &sqs.DeleteQueueOutput{}, nil
}

// ListQueues lists queue URLs by name, optionally by prefix, paginated by MaxResults
// (1 to 1000) and NextToken.
func (c *Client) ListQueues(ctx context.Context, in *sqs.ListQueuesInput, _ ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error) {
	const op = "ListQueues"
	if in == nil {
		in = &sqs.ListQueuesInput{}
	}
	s := c.s
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, opError(op, errInvalidParameter("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults))
		}
		limit = int(*in.MaxResults)
	}
	var names []string
	for name := range s.byName {
		if strings.HasPrefix(name, deref(in.QueueNamePrefix)) && name > deref(in.NextToken) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := &sqs.ListQueuesOutput{}
	for i, name := range names {
		if i == limit {
			if in.MaxResults != nil {
				out.NextToken = aws.String(names[i-1])
			}
			break
		}
		out.QueueUrls = append(out.QueueUrls, s.byName[name].url)
	}
	return out, nil
}
