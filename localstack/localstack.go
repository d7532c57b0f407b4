// Package localstack is Hookline's harness for local AWS in tests: one place that decides which
// SQS (and DynamoDB) endpoint integration tests talk to, so every package's tests run the same
// way on a laptop without Docker, in CI, and against LocalStack.
//
// The endpoint comes from, in order:
//
//  1. AWS_ENDPOINT_URL_SQS, when set: an SQS the caller runs (LocalStack from docker-compose, or a
//     fauxqs started by hand). The harness starts nothing.
//  2. Otherwise a fauxqs emulator (npm package pinned in this directory's package.json and
//     package-lock.json) that the harness starts once per test process with
//     `node localstack/fauxqs.mjs --port 0`. The launcher binds 127.0.0.1 only, prints a ready
//     line, and exits when the test process closes its stdin, so even a killed test binary leaves
//     no emulator behind.
//
// When neither is available (no `node` on PATH, or `npm ci` not run in localstack/), tests skip
// with a message saying how to enable them, except when the CI environment variable is set: then
// they fail, because integration tests must never skip silently in CI. `make test` runs `npm ci`
// in localstack/ first.
//
// DynamoDB works the same way (dynalite.go): DynamoDBEndpoint returns AWS_ENDPOINT_URL_DYNAMODB
// when set, otherwise the URL of a dynalite (npm package pinned next to fauxqs) started once per
// test process with `node localstack/dynalite.mjs --port 0`, in memory, on 127.0.0.1. Tests that
// take the database down start their own with StartDynalite, which can Stop and Restart it on the
// same port. Stop and RunTests stop both emulators.
//
// For Lambda, RIE runs a handler (examples/lambda-receiver) under the AWS Runtime Interface
// Emulator, installed with `go install` at a pinned version on first use (see rie.go). It serves
// only the function name "function", ignores the invocation type and qualifier, never sets
// X-Amz-Function-Error, and crashes on concurrent invokes: invoke it serially. Lambda semantics
// (throttling, function errors, 404s) are tested against delivery/lambdafake instead.
//
// Use it from a package's tests:
//
//	func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }
//
//	func TestSomething(t *testing.T) {
//		client := localstack.SQSClient(t, "us-east-1")
//		name := localstack.UniqueQueueName(t, "hookline")
//		...
//	}
//
// fauxqs 1.9.2 differs from SQS in ways tests must allow for (see DESIGN.md §8):
//   - it only accepts the exact QueueUrl it issued, which has the form
//     http://sqs.<region>.localhost:<port>/000000000000/<name> (not the endpoint's host): always
//     use GetQueueUrl/CreateQueue results;
//   - queues are scoped by the region in the request signature: the client's region must match;
//   - everything is in memory: stopping it empties every queue;
//   - ReceiveMessage returns all message attributes unasked; a FIFO receive returns one message
//     per group; StartMessageMoveTask does not exist;
//   - SetQueueAttributes rejects SqsManagedSseEnabled, RedriveAllowPolicy, DeduplicationScope and
//     FifoThroughputLimit (AWS.SimpleQueueService.InvalidAttributeName), while CreateQueue
//     accepts any attribute silently; GetQueueAttributes never reports SqsManagedSseEnabled;
//   - RedrivePolicy is stored as sent (maxReceiveCount stays a string if sent as one);
//   - new queues default to MaximumMessageSize 1048576 and VisibilityTimeout 30.
//
// Errors carry the query-protocol codes real SQS sends: a missing queue is
// "AWS.SimpleQueueService.NonExistentQueue" (*types.QueueDoesNotExist).
//
// This package reads the environment and starts processes; it is for tests and local tooling
// only, never for production code paths.
package localstack

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// EndpointEnv is the environment variable that points the harness at an SQS the caller runs
// (LocalStack, or fauxqs started by hand). It is also the variable the AWS SDKs read.
const EndpointEnv = "AWS_ENDPOINT_URL_SQS"

// SQSClient returns a real aws-sdk-go-v2 SQS client for the harness's endpoint (see
// SQSEndpoint), with static dummy credentials test/test. region must be the region of the queues
// the test uses: fauxqs scopes queues by the region in the request signature.
//
// The client ignores the shared AWS config files and the AWS_* environment on purpose, so a
// developer's real profile can never be used by a test.
func SQSClient(tb testing.TB, region string) *sqs.Client {
	tb.Helper()
	endpoint := SQSEndpoint(tb)
	return sqs.New(sqs.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// maxQueueNameLen is the SQS limit on queue names (including any ".fifo" suffix).
const maxQueueNameLen = 80

// reservedSuffixLen leaves room for the longest suffix Hookline appends: "-dlq.fifo".
const reservedSuffixLen = len("-dlq.fifo")

// UniqueQueueName returns a queue name unique to this test and this run, built from prefix, the
// test's name and random hex, e.g. "hookline-TestEnsure_fifo-3f9a1c07". Only characters SQS
// allows are used, and the name is short enough that appending "-dlq.fifo" stays within SQS's
// 80-character limit. Queues are not deleted: fauxqs forgets them when it stops; against a
// long-lived LocalStack, delete them in tb.Cleanup if that matters.
func UniqueQueueName(tb testing.TB, prefix string) string {
	tb.Helper()
	var buf [4]byte
	if _, err := rand.Read(buf[:]); err != nil {
		tb.Fatalf("localstack: random queue suffix: %v", err)
	}
	suffix := "-" + hex.EncodeToString(buf[:])
	base := sanitizeQueueName(prefix)
	if test := sanitizeQueueName(tb.Name()); test != "" {
		if base != "" {
			base += "-"
		}
		base += test
	}
	if max := maxQueueNameLen - reservedSuffixLen - len(suffix); len(base) > max {
		base = base[:max]
	}
	base = strings.TrimRight(base, "-_")
	if base == "" {
		base = "q"
	}
	return base + suffix
}

// sanitizeQueueName maps s onto SQS's queue-name alphabet [A-Za-z0-9_-], replacing anything
// else (the "/" of subtests, spaces) with "_".
func sanitizeQueueName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		default:
			return '_'
		}
	}, s)
}
