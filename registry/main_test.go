package registry_test

import (
	"os"
	"testing"

	"github.com/hookline/hookline/internal/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.RunTests(m)) }
