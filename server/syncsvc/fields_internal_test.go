package syncsvc

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// The hand-written id matchers agree with the patterns they stand for.
func TestCharsetMatchesItsPattern(t *testing.T) {
	for _, c := range []struct {
		m  charset
		re *regexp.Regexp
	}{
		{safeID, regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$`)},
		{safeName, regexp.MustCompile(`^[0-9A-Za-z_][0-9A-Za-z_.-]{0,63}$`)},
	} {
		alphabet := []byte("aZ09_-.$ \x00é")
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20000; i++ {
			b := make([]byte, rng.IntN(70))
			for j := range b {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			s := string(b)
			if c.m.MatchString(s) != c.re.MatchString(s) {
				t.Fatalf("%q: matcher %v, pattern %v", s, c.m.MatchString(s), c.re.MatchString(s))
			}
		}
	}
}
