package localstack

import (
	"os"
	"testing"
)

// SQSEndpoint returns the base URL of the SQS endpoint integration tests must use: the value of
// AWS_ENDPOINT_URL_SQS when set, otherwise that of a fauxqs started once per test process (see
// the package documentation). It logs which one it chose.
//
// When neither is available it skips the test with instructions, or, when the CI environment
// variable is non-empty, fails it: integration tests never skip silently in CI.
func SQSEndpoint(tb testing.TB) string {
	tb.Helper()
	if v := os.Getenv(EndpointEnv); v != "" {
		tb.Logf("localstack: SQS = %s=%s", EndpointEnv, v)
		return v
	}
	return fauxqs.endpoint(tb, "SQS", EndpointEnv)
}

// Stop stops the emulators started by SQSEndpoint and DynamoDBEndpoint, if any: SIGTERM, then
// wait (killing them after 10 s). It is safe to call more than once and when nothing was
// started. Call it after all tests ran; RunTests does.
func Stop() {
	fauxqs.stop()
	dynalite.stop()
}

// RunTests runs the tests and then stops the harness's emulators. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }
func RunTests(m *testing.M) int {
	defer Stop()
	return m.Run()
}
