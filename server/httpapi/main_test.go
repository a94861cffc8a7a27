package httpapi_test

import (
	"testing"

	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

// The tests of this package are external (package httpapi_test): they drive
// the real server through testenv, which imports app, which imports httpapi.
// This is the package's one TestMain; add tests in package httpapi_test.
func TestMain(m *testing.M) { dbtest.Main(m) }
