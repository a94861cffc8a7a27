package apitest_test

import (
	"testing"

	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
