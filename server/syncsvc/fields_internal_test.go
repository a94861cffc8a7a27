package syncsvc

import (
	"encoding/json"
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

// The fast path for plain strings reads exactly what encoding/json reads,
// and takes nothing encoding/json would refuse.
func FuzzPlainJSONString(f *testing.F) {
	for _, s := range []string{`"visited"`, `"家中养猪 20 头"`, `"a\"b"`, `"a\\nb"`, `"\u00e9"`, `"` + "\xff" + `"`, `"` + "\x01" + `"`, `""`, `"`, `x"`, `"abc`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainJSONString(raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("fast path took %q, which encoding/json refuses: %v", raw, err)
		}
		if got != want {
			t.Fatalf("fast path read %q as %q, encoding/json as %q", raw, got, want)
		}
	})
}
