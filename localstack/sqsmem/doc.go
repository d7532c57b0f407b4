// Package sqsmem is an in-memory SQS for deterministic tests: queues, visibility timeouts,
// receipt handles, delays, FIFO message groups and deduplication, redrive to a dead-letter
// queue, and injectable faults (throttled calls, partially failed batches).
//
// A Server holds the queues; Server.Client returns a client whose methods have exactly the
// signatures of *sqs.Client's, so it fits any consumer-side interface (worker.SQS,
// queues.API). The Server reads the time only through package time and starts no goroutines:
// inside a testing/synctest bubble, visibility timeouts, delays and long polls run on virtual
// time, and a long poll is a goroutine durably blocked on a timer or a channel. Create the
// Server inside the bubble.
//
//	synctest.Test(t, func(t *testing.T) {
//		srv := sqsmem.New()
//		mainURL, dlqURL := srv.CreatePair("hookline", false, 30*time.Second, 5)
//		w, err := worker.New(cfg, srv.Client(), ...)
//		...
//		synctest.Wait()
//		if got := srv.Calls()["DeleteMessageBatch"]; got != 1 { ... }
//	})
//
// The conformance suite in this package runs the same behavioural tests against the Server
// and against the fauxqs emulator the localstack harness starts, so the fake stays honest.
//
// # Semantics
//
// Where real SQS and fauxqs differ, sqsmem follows real SQS:
//
//   - Errors are the SDK's: a *smithy.OperationError wrapping the API error SQS would send,
//     typed where the SQS model has a type (*types.QueueDoesNotExist, ErrorCode()
//     "AWS.SimpleQueueService.NonExistentQueue"; *types.ReceiptHandleIsInvalid,
//     "ReceiptHandleIsInvalid"; ...) and a *smithy.GenericAPIError otherwise
//     ("InvalidParameterValue", "MissingParameter"). Missing required members fail with the
//     SDK's client-side smithy.InvalidParamsError, before the call reaches the server. A done
//     context fails the call with an error wrapping ctx.Err().
//   - Receipt handles: every receive issues a new handle. A handle the server never issued for
//     that queue is ReceiptHandleIsInvalid (fauxqs: DeleteMessage succeeds, ChangeMessageVisibility
//     says MessageNotInflight). For ChangeMessageVisibility(Batch), the handle of a deleted
//     message or an older handle of a message received again since is InvalidParameterValue
//     (fauxqs: MessageNotInflight, and ReceiptHandleIsInvalid in batches); the latest handle
//     of a message whose timeout expired succeeds without effect. For DeleteMessage(Batch), the
//     handle of a deleted message succeeds, an older handle behaves as set by SetStaleDelete
//     (default: succeeds, deletes nothing), and on FIFO queues an expired or older handle is
//     InvalidParameterValue "The receipt handle has expired." (fauxqs: always succeeds).
//   - Visibility timeouts are whole seconds, at most 12 hours in total per receive.
//   - Delivery order is deterministic: oldest first on standard queues; on FIFO queues group
//     by group, as many messages of one group as are visible, a group locked while any of its
//     messages is in flight (fauxqs returns one message per group per receive). A receive
//     without wait sees every available message (a real short poll may miss some).
//   - Receive counts: a message received more than the redrive policy's maxReceiveCount times
//     moves to the dead-letter queue during the receive that would exceed it, keeping its
//     MessageId, body, attributes, SentTimestamp and receive count, and gaining
//     DeadLetterQueueSourceArn (fauxqs: count one higher, no DeadLetterQueueSourceArn).
//   - ReceiveMessage returns system attributes named in MessageSystemAttributeNames or the
//     legacy AttributeNames, and message attributes named in MessageAttributeNames ("All",
//     ".*", "prefix.*" or names), with MD5OfMessageAttributes of those returned (fauxqs
//     returns all message attributes unasked).
//   - SendMessage(Batch) checks what SQS checks: body characters (#x9 | #xA | #xD |
//     #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF; fauxqs rejects #x10000 and above; sqsmem
//     also rejects invalid UTF-8), size against MaximumMessageSize (default 1 MiB), at most
//     10 message attributes with valid names and types (fauxqs checks neither), DelaySeconds
//     0-900 (FIFO: only the queue's), MessageGroupId (required on FIFO; kept on standard
//     queues, which makes them fair queues), MessageDeduplicationId (FIFO only; 5-minute
//     window, or content-based), and for batches at most 10 entries, distinct valid ids and
//     at most 1 MiB in total.
//   - Queues: only the exact URL issued is accepted (like fauxqs; real SQS accepts other
//     spellings). A FIFO queue needs FifoQueue=true and a ".fifo" name (fauxqs infers it from
//     the name). GetQueueAttributes without names returns none (fauxqs: all). RedrivePolicy
//     is reported with maxReceiveCount as a number; its target must exist and be of the
//     same type. New queues have VisibilityTimeout 30 and MaximumMessageSize 1048576.
//   - Not modelled: permissions, tags, encryption (SqsManagedSseEnabled is stored and
//     reported), message move tasks, ReceiveRequestAttemptId, the 60-second wait before a
//     deleted queue's name can be reused, SDK retries.
package sqsmem
