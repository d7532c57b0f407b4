package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// heartbeat extends the visibility of every owned message, including those
// still waiting in a batch, every heartbeatPeriod until ctx is done.
func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.heartbeatPeriod())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.beat(ctx)
		}
	}
}

// beat extends all owned messages once, 10 per call. A per-entry
// ReceiptHandleIsInvalid marks the message lost: it will not be deleted
// with that handle.
func (w *Worker) beat(ctx context.Context) {
	msgs := w.owned.snapshot()
	vt := int32(w.cfg.Queue.VisibilityTimeout / time.Second)
	for start := 0; start < len(msgs); start += maxBatch {
		chunk := msgs[start:min(start+maxBatch, len(msgs))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				ReceiptHandle:     aws.String(m.receiptHandle()),
				VisibilityTimeout: vt,
			}
		}
		var out *sqs.ChangeMessageVisibilityBatchOutput
		err := w.call(ctx, func(ctx context.Context) (err error) {
			out, err = w.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
				QueueUrl: aws.String(w.opts.QueueURL), Entries: entries,
			})
			return err
		})
		if err != nil {
			w.m.sqsErrors.WithLabelValues("heartbeat").Inc()
			w.heartbeatErrors.log(w.log, "heartbeat failed; will try again next beat", "messages", len(chunk), "error", err)
			continue
		}
		w.m.heartbeats.Add(float64(len(out.Successful)))
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			if i < 0 || i >= len(chunk) || !lostHandle(aws.ToString(f.Code)) {
				w.m.sqsErrors.WithLabelValues("heartbeat").Inc()
				continue
			}
			m := chunk[i]
			m.mu.Lock()
			m.lost = true
			m.mu.Unlock()
			w.m.ownershipLost.Inc()
			w.log.Warn("heartbeat: ownership lost", "message_id", m.sqsID, "code", aws.ToString(f.Code))
		}
	}
}
