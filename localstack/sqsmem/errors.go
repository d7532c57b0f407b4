package sqsmem

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// serviceID is what the SDK puts in smithy.OperationError.ServiceID for SQS.
const serviceID = "SQS"

// Error codes, as ErrorCode() reports them through the SDK against real SQS. Modelled errors
// carry the awsQuery code of the SQS model (the SDK copies it from the x-amzn-query-error
// header into ErrorCodeOverride); the others arrive as smithy.GenericAPIError.
const (
	codeNonExistentQueue         = "AWS.SimpleQueueService.NonExistentQueue"
	codeReceiptHandleIsInvalid   = "ReceiptHandleIsInvalid"
	codeInvalidParameterValue    = "InvalidParameterValue"
	codeMissingParameter         = "MissingParameter"
	codeInvalidAttributeName     = "InvalidAttributeName"
	codeInvalidAttributeValue    = "InvalidAttributeValue"
	codeInvalidMessageContents   = "InvalidMessageContents"
	codeEmptyBatchRequest        = "AWS.SimpleQueueService.EmptyBatchRequest"
	codeTooManyEntriesInBatch    = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
	codeBatchEntryIdsNotDistinct = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
	codeBatchRequestTooLong      = "AWS.SimpleQueueService.BatchRequestTooLong"
	codeInvalidBatchEntryID      = "AWS.SimpleQueueService.InvalidBatchEntryId"
	codePurgeQueueInProgress     = "AWS.SimpleQueueService.PurgeQueueInProgress"
	codeQueueAlreadyExists       = "QueueAlreadyExists"
)

// serverFaultCodes are the batch entry codes reported with SenderFault false.
var serverFaultCodes = map[string]bool{
	"InternalError":      true,
	"InternalFailure":    true,
	"ServiceUnavailable": true,
}

// opError wraps err the way the SDK wraps every operation error, so errors.As and errors.Is
// see the same chain (minus the HTTP response layer) as with *sqs.Client.
func opError(op string, err error) error {
	return &smithy.OperationError{ServiceID: serviceID, OperationName: op, Err: err}
}

func errQueueDoesNotExist() error {
	return &types.QueueDoesNotExist{
		Message:           aws.String("The specified queue does not exist."),
		ErrorCodeOverride: aws.String(codeNonExistentQueue),
	}
}

func errReceiptHandleIsInvalid(handle string) error {
	return &types.ReceiptHandleIsInvalid{
		Message:           aws.String(fmt.Sprintf("The input receipt handle %q is not a valid receipt handle.", handle)),
		ErrorCodeOverride: aws.String(codeReceiptHandleIsInvalid),
	}
}

func errInvalidMessageContents() error {
	return &types.InvalidMessageContents{
		Message:           aws.String(invalidContentsMessage),
		ErrorCodeOverride: aws.String(codeInvalidMessageContents),
	}
}

const invalidContentsMessage = "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"

func errInvalidParameter(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: codeInvalidParameterValue, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

func errMissingParameter(name string) error {
	return &smithy.GenericAPIError{Code: codeMissingParameter,
		Message: fmt.Sprintf("The request must contain the parameter %s.", name), Fault: smithy.FaultClient}
}

func errInvalidAttributeName(format string, args ...any) error {
	return &types.InvalidAttributeName{
		Message:           aws.String(fmt.Sprintf(format, args...)),
		ErrorCodeOverride: aws.String(codeInvalidAttributeName),
	}
}

func errInvalidAttributeValue(format string, args ...any) error {
	return &types.InvalidAttributeValue{
		Message:           aws.String(fmt.Sprintf(format, args...)),
		ErrorCodeOverride: aws.String(codeInvalidAttributeValue),
	}
}

func errEmptyBatch(entryType string) error {
	return &types.EmptyBatchRequest{
		Message:           aws.String("There should be at least one " + entryType + " in the request."),
		ErrorCodeOverride: aws.String(codeEmptyBatchRequest),
	}
}

func errTooManyEntries(n int) error {
	return &types.TooManyEntriesInBatchRequest{
		Message:           aws.String(fmt.Sprintf("Maximum number of entries per request are %d. You have sent %d.", maxBatch, n)),
		ErrorCodeOverride: aws.String(codeTooManyEntriesInBatch),
	}
}

func errIDsNotDistinct(id string) error {
	return &types.BatchEntryIdsNotDistinct{
		Message:           aws.String(fmt.Sprintf("Id %s repeated.", id)),
		ErrorCodeOverride: aws.String(codeBatchEntryIdsNotDistinct),
	}
}

func errInvalidBatchEntryID(id string) error {
	return &types.InvalidBatchEntryId{
		Message: aws.String(fmt.Sprintf("A batch entry id can only contain alphanumeric characters, hyphens and underscores. "+
			"It can be at most 80 letters long. Got %q.", id)),
		ErrorCodeOverride: aws.String(codeInvalidBatchEntryID),
	}
}

func errBatchTooLong(size int) error {
	return &types.BatchRequestTooLong{
		Message:           aws.String(fmt.Sprintf("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchBytes, size)),
		ErrorCodeOverride: aws.String(codeBatchRequestTooLong),
	}
}

func errPurgeInProgress(name string) error {
	return &types.PurgeQueueInProgress{
		Message:           aws.String(fmt.Sprintf("Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)),
		ErrorCodeOverride: aws.String(codePurgeQueueInProgress),
	}
}

func errQueueNameExists(attr string) error {
	return &types.QueueNameExists{
		Message:           aws.String("A queue already exists with the same name and a different value for attribute " + attr),
		ErrorCodeOverride: aws.String(codeQueueAlreadyExists),
	}
}

// entryError turns err (an API error built above) into a batch result entry.
func entryError(id string, err error) types.BatchResultErrorEntry {
	code, msg := "InternalError", err.Error()
	if ae, ok := err.(smithy.APIError); ok {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	// Batch entries carry the short code ("ReceiptHandleIsInvalid"), never the query prefix.
	code = trimQueryPrefix(code)
	return types.BatchResultErrorEntry{
		Id: aws.String(id), Code: aws.String(code), Message: aws.String(msg), SenderFault: !serverFaultCodes[code],
	}
}

func trimQueryPrefix(code string) string {
	const prefix = "AWS.SimpleQueueService."
	if len(code) > len(prefix) && code[:len(prefix)] == prefix {
		return code[len(prefix):]
	}
	return code
}
