package sqsmem

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs/schemas"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/traits"
)

// TestQueryCodesMatchModel checks the codes sqsmem puts in ErrorCodeOverride against the SQS
// model's awsQueryError traits, which is what the SDK reports against real SQS.
func TestQueryCodesMatchModel(t *testing.T) {
	for _, tc := range []struct {
		schema *smithy.Schema
		err    error
	}{
		{schemas.QueueDoesNotExist, errQueueDoesNotExist()},
		{schemas.ReceiptHandleIsInvalid, errReceiptHandleIsInvalid("h")},
		{schemas.EmptyBatchRequest, errEmptyBatch("X")},
		{schemas.TooManyEntriesInBatchRequest, errTooManyEntries(11)},
		{schemas.BatchEntryIdsNotDistinct, errIDsNotDistinct("a")},
		{schemas.BatchRequestTooLong, errBatchTooLong(1)},
		{schemas.InvalidBatchEntryId, errInvalidBatchEntryID("a b")},
		{schemas.PurgeQueueInProgress, errPurgeInProgress("q")},
		{schemas.QueueNameExists, errQueueNameExists("VisibilityTimeout")},
		{schemas.InvalidMessageContents, errInvalidMessageContents()},
		{schemas.InvalidAttributeName, errInvalidAttributeName("x")},
		{schemas.InvalidAttributeValue, errInvalidAttributeValue("x")},
	} {
		want := tc.schema.ID().Name // no trait: the query code is the shape name
		if tr, ok := smithy.SchemaTrait[*traits.AWSQueryError](tc.schema); ok {
			want = tr.ErrorCode
		}
		if got := tc.err.(smithy.APIError).ErrorCode(); got != want {
			t.Errorf("%s: ErrorCode() = %q, the model says %q", tc.schema.ID().Name, got, want)
		}
	}
}

func TestValidText(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"plain", true}, {"tab\tnl\ncr\r", true}, {"\u00e9\u4e2d", true}, {"\U0001F680", true}, {"\U0010FFFF", true},
		{"\uFFFD", true}, {"\uE000", true},
		{"\x00", false}, {"\x1f", false}, {"\uFFFE", false}, {"\uFFFF", false}, {"bad \xff utf-8", false}, {"\xed\xa0\x80", false},
	} {
		if got := validText(tc.s); got != tc.ok {
			t.Errorf("validText(%q) = %t, want %t", tc.s, got, tc.ok)
		}
	}
}
