package registry_test

import (
	"os"
	"testing"

	"github.com/hookline/hookline/internal/dbtest"
	"github.com/hookline/hookline/localstack"
)

// TestMain stops the servers the tests started: the local DynamoDB
// (localstack), PostgreSQL and MariaDB (dbtest).
func TestMain(m *testing.M) {
	code := m.Run()
	localstack.Stop()
	dbtest.StopAll()
	os.Exit(code)
}
