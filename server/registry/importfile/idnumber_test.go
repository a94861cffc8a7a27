package importfile

import (
	"testing"

	"pgregory.net/rapid"
)

func TestIDCheckDigit(t *testing.T) {
	tests := []struct {
		first17 string
		want    byte
	}{
		// The worked example of GB 11643-1999.
		{"11010519491231002", 'X'},
		// From the sample lists.
		{"50023619480925272", '5'},
		{"36112719600324673", '1'},
		{"50024119610302029", '5'},
		{"00000000000000000", '1'}, // sum 0 -> '1'
	}
	for _, tt := range tests {
		got, err := IDCheckDigit(tt.first17)
		if err != nil || got != tt.want {
			t.Errorf("IDCheckDigit(%q) = %q, %v; want %q", tt.first17, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1101051949123100", "110105194912310021", "1101051949123100X", "１1010519491231002"} {
		if _, err := IDCheckDigit(bad); err == nil {
			t.Errorf("IDCheckDigit(%q) succeeded, want an error", bad)
		}
	}
}

func TestValidIDNumber(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"11010519491231002X", true},
		{"500236194809252725", true},
		{"11010519491231002x", false}, // callers normalise case; the function is strict
		{"110105194912310021", false}, // wrong check digit
		{"500238198007150516", false}, // defective row 456 of the October sample
		{"50023619480925272", false},  // 17 characters
		{"5002361948092527255", false},
		{"5.00241E+17", false},
		{" 500236194809252725", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidIDNumber(tt.id); got != tt.want {
			t.Errorf("ValidIDNumber(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// Property: the computed check digit always validates, and any single-digit
// change among the first 17 (or to the check character) is caught — the
// guarantee MOD 11-2 is designed to give.
func TestIDCheckDigitProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		first17 := rapid.StringMatching(`[0-9]{17}`).Draw(t, "first17")
		c, err := IDCheckDigit(first17)
		if err != nil {
			t.Fatalf("IDCheckDigit(%q): %v", first17, err)
		}
		id := first17 + string(c)
		if !ValidIDNumber(id) {
			t.Fatalf("ValidIDNumber(%q) = false for its own check digit", id)
		}
		pos := rapid.IntRange(0, 17).Draw(t, "pos")
		alphabet := "0123456789"
		if pos == 17 {
			alphabet = "0123456789X"
		}
		repl := alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, "repl")]
		if repl == id[pos] {
			repl = alphabet[(indexByte(alphabet, repl)+1)%len(alphabet)]
		}
		changed := id[:pos] + string(repl) + id[pos+1:]
		if ValidIDNumber(changed) {
			t.Fatalf("ValidIDNumber(%q) = true after changing position %d of %q", changed, pos, id)
		}
	})
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}
