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
// Where real SQS and fauxqs 1.9.2 differ, sqsmem follows real SQS; the conformance suite
// names each difference (the quirk* constants in conformance_test.go) and logs it when it
// skips a check on fauxqs.
//
//   - Errors are the SDK's: a *smithy.OperationError wrapping the API error, typed where the
//     SQS model has a type, with ErrorCode() as the SDK reports it against real SQS (the
//     model's query code): *types.QueueDoesNotExist is
//     "AWS.SimpleQueueService.NonExistentQueue", *types.ReceiptHandleIsInvalid is
//     "ReceiptHandleIsInvalid", batch-level errors are "AWS.SimpleQueueService.EmptyBatchRequest"
//     and the like; unmodelled errors are a *smithy.GenericAPIError ("InvalidParameterValue",
//     "MissingParameter"). fauxqs prefixes every code with "AWS.SimpleQueueService.". Batch
//     entries carry the short code. Missing required members fail with the SDK's client-side
//     smithy.InvalidParamsError, before the call reaches the server; a done context fails the
//     call with an error wrapping ctx.Err().
//   - Zero values the SDK does not send mean SQS's defaults: MaxNumberOfMessages 0 is 1,
//     WaitTimeSeconds 0 is the queue's ReceiveMessageWaitTimeSeconds, a receive's
//     VisibilityTimeout 0 is the queue's, DelaySeconds 0 is the queue's.
//   - Receipt handles: every receive issues a new one. A handle the server never issued for
//     that queue is ReceiptHandleIsInvalid (fauxqs: DeleteMessage(Batch) succeeds,
//     ChangeMessageVisibility says MessageNotInflight).
//   - ChangeMessageVisibility(Batch): the handle of a deleted message, or an older handle of a
//     message received again since, is InvalidParameterValue (fauxqs: MessageNotInflight, and
//     ReceiptHandleIsInvalid in batches); every one of these codes is one worker.lostHandle
//     treats as lost. The latest handle of a message whose timeout expired, not yet received
//     again, succeeds and changes nothing. The time in flight may not exceed 12 hours from the
//     receive (InvalidParameterValue; fauxqs does not check). 0 makes the message visible at
//     once (on FIFO queues, first in its group again).
//   - DeleteMessage(Batch): the latest handle deletes the message, in flight or visible again;
//     the handle of a deleted message succeeds; an older handle behaves as set by
//     SetStaleDelete (default: succeeds, deletes nothing, like fauxqs). On FIFO queues an
//     expired or older handle is InvalidParameterValue "The receipt handle has expired."
//     (fauxqs: succeeds).
//   - Delivery order is deterministic: oldest first on standard queues; on FIFO queues group
//     by group, as many visible messages of one group as fit, a group locked while any of its
//     messages is in flight (fauxqs returns one message per group per receive). A receive
//     without wait sees every available message (a real short poll may miss some).
//   - Redrive: a message received more than the redrive policy's maxReceiveCount times moves
//     to the dead-letter queue during the receive that would exceed it, keeping its MessageId,
//     body, attributes, group, SentTimestamp and receive count (so its first receive there
//     reports maxReceiveCount+1; fauxqs: +2), and gaining DeadLetterQueueSourceArn (fauxqs:
//     none).
//   - ReceiveMessage returns the system attributes named in MessageSystemAttributeNames or the
//     legacy AttributeNames, and the message attributes named in MessageAttributeNames ("All",
//     ".*", "prefix.*" or names) with MD5OfMessageAttributes of those returned (fauxqs returns
//     all message attributes unasked, and the MD5 of all of them when some are selected).
//     MessageGroupId sent to a standard queue (a fair queue) is kept and returned (fauxqs
//     drops it).
//   - SendMessage(Batch) checks what SQS checks: body characters (#x9 | #xA | #xD |
//     #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF; fauxqs rejects #x10000 and above;
//     sqsmem also rejects invalid UTF-8, which the SDK would mangle), size against
//     MaximumMessageSize (default 1 MiB), at most 10 message attributes with valid names,
//     types and values (fauxqs checks none of this), DelaySeconds 0-900 (fauxqs accepts more;
//     FIFO: only the queue's), MessageGroupId (required on FIFO), MessageDeduplicationId (FIFO
//     only; 5-minute window, or content-based), and for batches at most 10 entries, distinct
//     valid ids and at most 1 MiB in total.
//   - Queues: only the exact URL issued is accepted (like fauxqs; real SQS accepts other
//     spellings). A FIFO queue needs FifoQueue=true and a ".fifo" name (fauxqs infers it from
//     the name). GetQueueAttributes without names returns none (fauxqs: all). RedrivePolicy is
//     reported with maxReceiveCount as a number (fauxqs: as sent); its target must exist and
//     be of the same type. New queues have VisibilityTimeout 30 and MaximumMessageSize
//     1048576, like both. PurgeQueue empties the queue at once; a second one within 60 s is
//     PurgeQueueInProgress.
//   - Not modelled: permissions, tags, encryption (SqsManagedSseEnabled is stored and
//     reported), message move tasks, ReceiveRequestAttemptId, the 60-second wait before a
//     deleted queue's name can be reused, throughput limits, SDK retries. Receipt handles are
//     kept for the Server's lifetime (memory grows with the number of receives).
package sqsmem
