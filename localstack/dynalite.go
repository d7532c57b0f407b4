package localstack

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoDBEndpointEnv is the environment variable that points the harness at a DynamoDB the
// caller runs (LocalStack, or dynalite started by hand). It is also the variable the AWS SDKs
// read.
const DynamoDBEndpointEnv = "AWS_ENDPOINT_URL_DYNAMODB"

// DynamoDBEndpoint returns the base URL of the DynamoDB endpoint integration tests must use: the
// value of AWS_ENDPOINT_URL_DYNAMODB when set, otherwise that of a dynalite (npm package pinned
// in this directory) started once per test process with `node localstack/dynalite.mjs --port 0`
// and stopped by Stop. It logs which one it chose.
//
// When neither is available it skips the test with instructions, or, when the CI environment
// variable is non-empty, fails it.
//
// dynalite keeps its tables in memory, makes new tables ACTIVE at once, and pages Scan and Query
// results at 1 MB as DynamoDB does; it ignores the region and the credentials.
func DynamoDBEndpoint(tb testing.TB) string {
	tb.Helper()
	if v := os.Getenv(DynamoDBEndpointEnv); v != "" {
		tb.Logf("localstack: DynamoDB = %s=%s", DynamoDBEndpointEnv, v)
		return v
	}
	return dynalite.endpoint(tb, "DynamoDB", DynamoDBEndpointEnv)
}

// DynamoDBClient returns a real aws-sdk-go-v2 DynamoDB client for endpoint (DynamoDBEndpoint's,
// or a Dynalite's) with static dummy credentials test/test. Like SQSClient it ignores the shared
// AWS config files and the AWS_* environment.
func DynamoDBClient(endpoint, region string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// UniqueTableName returns a DynamoDB table name unique to this test and this run, like
// UniqueQueueName (whose alphabet and length DynamoDB table names allow).
func UniqueTableName(tb testing.TB, prefix string) string {
	tb.Helper()
	return UniqueQueueName(tb, prefix)
}

// Dynalite is a dynalite of the test's own, for tests that stop the database: started by
// StartDynalite, stopped and restarted on the same port at will, and stopped when the test ends.
type Dynalite struct {
	port     int
	endpoint string

	mu sync.Mutex
	s  *server // nil while stopped
}

// StartDynalite starts a dynalite for this test alone, on 127.0.0.1 and a free port, and stops it
// when the test ends. It ignores AWS_ENDPOINT_URL_DYNAMODB. When node or the npm package is
// missing it skips the test, or fails it when CI is set, as DynamoDBEndpoint does.
func StartDynalite(tb testing.TB) *Dynalite {
	tb.Helper()
	s, err := dynaliteLauncher.start(0)
	if err != nil {
		failStart(tb, dynaliteLauncher, "DynamoDB", DynamoDBEndpointEnv, err)
	}
	d := &Dynalite{endpoint: s.url, s: s}
	if d.port, err = urlPort(s.url); err != nil {
		_ = s.stop()
		tb.Fatalf("localstack: dynalite: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Stop(); err != nil {
			tb.Errorf("localstack: %v", err)
		}
	})
	tb.Logf("localstack: DynamoDB = dynalite of the test at %s (pid %d)", s.url, s.pid())
	return d
}

// Endpoint is the dynalite's base URL, http://127.0.0.1:PORT; it stays the same across restarts.
func (d *Dynalite) Endpoint() string { return d.endpoint }

// Stop stops the dynalite; once it returns, its port refuses connections. Stopping a stopped
// dynalite does nothing.
func (d *Dynalite) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s == nil {
		return nil
	}
	s := d.s
	d.s = nil
	if err := s.stop(); err != nil {
		return fmt.Errorf("dynalite (pid %d): %w; stderr:\n%s", s.pid(), err, orEmpty(s.stderr))
	}
	return nil
}

// Restart starts a new, empty dynalite on the same port (stopping the running one first, if
// any): tables must be created again.
func (d *Dynalite) Restart() error {
	if err := d.Stop(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := dynaliteLauncher.start(d.port)
	if err != nil {
		return fmt.Errorf("restart dynalite on port %d: %w", d.port, err)
	}
	if s.url != d.endpoint {
		_ = s.stop()
		return fmt.Errorf("restart dynalite: listening on %s, want %s", s.url, d.endpoint)
	}
	d.s = s
	return nil
}

// urlPort is the port of a launcher's http://127.0.0.1:PORT.
func urlPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil || p <= 0 {
		return 0, errors.New("no port in " + raw)
	}
	return p, nil
}
