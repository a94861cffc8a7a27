package pii

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/secrets"
)

func testSecrets(t *testing.T) *secrets.Secrets {
	t.Helper()
	s, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCodec(t *testing.T, s *secrets.Secrets) *Codec {
	t.Helper()
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealOpenRoundTrip(t *testing.T) {
	c := mustCodec(t, testSecrets(t))
	for _, v := range []string{"500241199001010295", "13812341234", "x", strings.Repeat("9", 300)} {
		for _, k := range []Kind{IDNumber, Phone} {
			ct, err := c.Seal(k, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) > 4 && bytes.Contains(ct, []byte(v)) {
				t.Fatalf("ciphertext contains the clear value %q", v)
			}
			got, err := c.Open(k, ct)
			if err != nil || got != v {
				t.Fatalf("Open = %q, %v; want %q", got, err, v)
			}
		}
	}
	if ct, err := c.Seal(Phone, ""); ct != nil || err != nil {
		t.Fatalf("empty seals to %v, %v; want nil", ct, err)
	}
	if v, err := c.Open(Phone, nil); v != "" || err != nil {
		t.Fatalf("nil opens to %q, %v", v, err)
	}
}

func TestSealIsRandomised(t *testing.T) {
	c := mustCodec(t, testSecrets(t))
	a, _ := c.Seal(IDNumber, "500241199001010295")
	b, _ := c.Seal(IDNumber, "500241199001010295")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are identical; the nonce is not random")
	}
}

func TestOpenRefusesTamperingAndWrongKind(t *testing.T) {
	c := mustCodec(t, testSecrets(t))
	ct, _ := c.Seal(Phone, "13812341234")
	if _, err := c.Open(IDNumber, ct); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("phone opened as ID number: %v", err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x40
		if v, err := c.Open(Phone, bad); err == nil {
			t.Fatalf("flipping byte %d still opened, to %q", i, v)
		}
	}
	for _, bad := range [][]byte{{1}, {2, 1, 'a'}, {1, 0}, {1, 5, 'a'}, ct[:len(ct)-1]} {
		if _, err := c.Open(Phone, bad); err == nil {
			t.Fatalf("garbage %v opened", bad)
		}
	}
}

// New values use the newest key; values sealed under an older listed key
// still open; a key that is dropped makes its values undecryptable.
func TestKeyRotation(t *testing.T) {
	s := testSecrets(t)
	old := mustCodec(t, s)
	ct, _ := old.Seal(IDNumber, "500241199001010295")
	if kid, ok := KeyID(ct); !ok || kid != s.DataKeys[0].ID {
		t.Fatalf("KeyID = %q, %v; want %q", kid, ok, s.DataKeys[0].ID)
	}

	fresh := testSecrets(t)
	s.DataKeys = append([]secrets.DataKey{{ID: "newer", Key: fresh.DataKeys[0].Key}}, s.DataKeys...)
	rotated := mustCodec(t, s)
	if got, err := rotated.Open(IDNumber, ct); err != nil || got != "500241199001010295" {
		t.Fatalf("old ciphertext after rotation: %q, %v", got, err)
	}
	if !rotated.NeedsRotation(ct) {
		t.Fatal("old ciphertext does not report NeedsRotation")
	}
	ct2, _ := rotated.Seal(IDNumber, "500241199001010295")
	if kid, _ := KeyID(ct2); kid != "newer" {
		t.Fatalf("new ciphertext under key %q, want newer", kid)
	}
	if rotated.NeedsRotation(ct2) {
		t.Fatal("fresh ciphertext reports NeedsRotation")
	}

	s.DataKeys = s.DataKeys[:1]
	dropped := mustCodec(t, s)
	if _, err := dropped.Open(IDNumber, ct); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("value under a dropped key: %v", err)
	}
}

func TestBlindIndex(t *testing.T) {
	s := testSecrets(t)
	c := mustCodec(t, s)
	id := c.BlindIndex(IDNumber, "36112719520122116X")
	for _, same := range []string{"36112719520122116x", " 36112719520122116X ", "３６１１２７１９５２０１２２１１６Ｘ"} {
		if got := c.BlindIndex(IDNumber, same); got != id {
			t.Errorf("BlindIndex(%q) differs from the canonical form", same)
		}
	}
	if strings.Contains(id, "361127") || len(id) != 32 {
		t.Fatalf("index %q: want 32 hex characters with nothing of the value", id)
	}
	if c.BlindIndex(Phone, "13812341234") == c.BlindIndex(IDNumber, "13812341234") {
		t.Fatal("phone and ID indexes of the same digits collide")
	}
	if c.BlindIndex(Phone, "13812341234") == c.BlindIndex(Phone, "13812341235") {
		t.Fatal("different phones index the same")
	}
	if c.BlindIndex(Phone, "  ") != "" {
		t.Fatal("blank value has an index")
	}
	other := mustCodec(t, testSecrets(t))
	if other.BlindIndex(IDNumber, "36112719520122116X") == id {
		t.Fatal("index does not depend on the key")
	}
}

func TestMask(t *testing.T) {
	cases := []struct {
		kind     Kind
		in, want string
	}{
		{IDNumber, "500241199001010295", "500241********0295"},
		{IDNumber, "36112719520122116x", "361127********116X"},
		{IDNumber, "500241900101029", "500241*****1029"},
		{Phone, "13812341234", "138****1234"},
		{Phone, "１３８１２３４１２３４", "138****1234"},
		{Phone, "023-67891234", "023****1234"},
		{Phone, "67891234", "****1234"},
		{Phone, "12345", "****5"},
		{Phone, "", ""},
		{IDNumber, "123", "**3"},
	}
	for _, tc := range cases {
		if got := Mask(tc.kind, tc.in); got != tc.want {
			t.Errorf("Mask(%s, %q) = %q, want %q", tc.kind, tc.in, got, tc.want)
		}
	}
}

func TestKeyedDependsOnPartsBoundaries(t *testing.T) {
	c := mustCodec(t, testSecrets(t))
	if c.Keyed("h", "ab", "c") == c.Keyed("h", "a", "bc") {
		t.Fatal("part boundaries do not matter")
	}
	if c.Keyed("h", "a") != c.Keyed("h", "a") || c.Keyed("h", "a") == c.Keyed("g", "a") {
		t.Fatal("Keyed is not a deterministic function of purpose and parts")
	}
}

func TestNewRejectsBadSecrets(t *testing.T) {
	s := testSecrets(t)
	s.DataKeys = append(s.DataKeys, s.DataKeys[0])
	if _, err := New(s); err == nil {
		t.Fatal("duplicate key id accepted")
	}
	s = testSecrets(t)
	s.BlindIndexKey = s.BlindIndexKey[:8]
	if _, err := New(s); err == nil {
		t.Fatal("short blind index key accepted")
	}
	if _, err := New(&secrets.Secrets{}); err == nil {
		t.Fatal("no keys accepted")
	}
}
