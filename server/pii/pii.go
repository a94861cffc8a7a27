// Package pii protects the personal numbers on the monitoring list: the head
// of household's ID number and the phone number. At rest they are sealed with
// AES-256-GCM under the newest data key, each ciphertext naming its key so
// keys can rotate; lookups go through a keyed blind index (HMAC-SHA256 of the
// normalised value), and screens and exports show only masked forms such as
// 500241********0295 and 138****1234.
//
// Nothing here logs, and no error message carries a clear value.
package pii

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/doorstep-dev/doorstep/server/secrets"
)

// Kind names what a value is. It separates the blind indexes (the same digits
// as a phone and as an ID give different index values) and is bound into the
// ciphertext as associated data, so a sealed phone cannot be passed off as an
// ID number.
type Kind string

// Kinds of personal number.
const (
	IDNumber Kind = "id_number"
	Phone    Kind = "phone"
)

// format is the first byte of every ciphertext; it lets the layout change later.
const format = 1

// Codec seals, opens, indexes and masks personal numbers. It is safe for
// concurrent use.
type Codec struct {
	current string // id of the key new ciphertexts use
	aeads   map[string]cipher.AEAD
	bidx    []byte
	macs    sync.Pool // of hash.Hash keyed with bidx: keying is most of a short HMAC's cost
}

// New builds a codec from the server's secrets: the first data key seals,
// every listed data key opens.
func New(sec *secrets.Secrets) (*Codec, error) {
	if sec == nil || len(sec.DataKeys) == 0 {
		return nil, errors.New("pii: no data key")
	}
	if len(sec.BlindIndexKey) < 32 {
		return nil, errors.New("pii: blind index key must be at least 32 bytes")
	}
	c := &Codec{current: sec.DataKeys[0].ID, aeads: make(map[string]cipher.AEAD, len(sec.DataKeys))}
	for _, k := range sec.DataKeys {
		if k.ID == "" || len(k.ID) > 255 {
			return nil, fmt.Errorf("pii: data key id %q: want 1 to 255 bytes", k.ID)
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("pii: data key id %q listed twice", k.ID)
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("pii: data key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("pii: data key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	c.bidx = bytes.Clone(sec.BlindIndexKey)
	c.macs.New = func() any { return hmac.New(sha256.New, c.bidx) }
	return c, nil
}

// CurrentKeyID is the id of the key that seals new values.
func (c *Codec) CurrentKeyID() string { return c.current }

// Seal encrypts a value under the current key. The empty string seals to nil,
// so an absent number stays NULL in the database.
//
// Layout: format byte, key-id length byte, key id, 12-byte nonce, GCM output.
func (c *Codec) Seal(kind Kind, value string) ([]byte, error) {
	if value == "" {
		return nil, nil
	}
	aead := c.aeads[c.current]
	out := make([]byte, 0, 2+len(c.current)+aead.NonceSize()+len(value)+aead.Overhead())
	out = append(out, format, byte(len(c.current)))
	out = append(out, c.current...)
	nonceAt := len(out)
	out = out[:nonceAt+aead.NonceSize()]
	if _, err := rand.Read(out[nonceAt:]); err != nil {
		return nil, fmt.Errorf("pii: nonce: %w", err)
	}
	return aead.Seal(out, out[nonceAt:], []byte(value), []byte(kind)), nil
}

// ErrUndecryptable means a ciphertext is damaged, of another kind, or sealed
// under a key this server no longer has.
var ErrUndecryptable = errors.New("pii: value cannot be decrypted")

// Open decrypts what Seal produced, under whichever listed key sealed it.
// nil opens to "".
func (c *Codec) Open(kind Kind, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	kid, rest, ok := splitKeyID(sealed)
	if !ok {
		return "", ErrUndecryptable
	}
	aead, ok := c.aeads[kid]
	if !ok {
		return "", fmt.Errorf("%w: key %q is not configured", ErrUndecryptable, kid)
	}
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return "", ErrUndecryptable
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(kind))
	if err != nil {
		return "", ErrUndecryptable
	}
	return string(plain), nil
}

// KeyID returns the id of the key that sealed a ciphertext.
func KeyID(sealed []byte) (string, bool) {
	kid, _, ok := splitKeyID(sealed)
	return kid, ok
}

// NeedsRotation reports whether a ciphertext was sealed under an older key.
func (c *Codec) NeedsRotation(sealed []byte) bool {
	if len(sealed) == 0 {
		return false
	}
	kid, ok := KeyID(sealed)
	return !ok || kid != c.current
}

func splitKeyID(sealed []byte) (kid string, rest []byte, ok bool) {
	if len(sealed) < 2 || sealed[0] != format {
		return "", nil, false
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n {
		return "", nil, false
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], true
}

// BlindIndex is the keyed lookup value of a number: hex of the first 16 bytes
// of HMAC-SHA256(blind index key, kind || 0 || normalised value). Equal
// numbers, however they were written, index equally; without the key the
// index reveals nothing. The empty value indexes to "".
func (c *Codec) BlindIndex(kind Kind, value string) string {
	v := Normalize(kind, value)
	if v == "" {
		return ""
	}
	m := c.macs.Get().(hash.Hash)
	defer c.macs.Put(m)
	m.Reset()
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:16])
}

// Keyed returns a keyed digest of the parts, hex-encoded, for fingerprints of
// records that contain personal numbers (an unkeyed hash of an ID number can
// be reversed by trying every plausible number).
func (c *Codec) Keyed(purpose string, parts ...string) string {
	m := c.macs.Get().(hash.Hash)
	defer c.macs.Put(m)
	m.Reset()
	m.Write([]byte("keyed:" + purpose))
	for _, p := range parts {
		var n [4]byte
		l := len(p)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		m.Write(n[:])
		m.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// Normalize puts a number in the one form that is sealed and indexed:
// full-width characters narrowed, spaces, hyphens and dots dropped, x made X.
func Normalize(kind Kind, value string) string {
	if normal(kind, value) {
		return value
	}
	v := width.Narrow.String(value)
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case kind == IDNumber && (r == 'x' || r == 'X'):
			b.WriteByte('X')
		case r == ' ' || r == '-' || r == '.' || r == '\t' || r == '\u3000':
		case kind == Phone && r == '+':
			b.WriteRune(r)
		default:
			// Anything else is kept so that two different malformed values
			// never collapse into one index value.
			b.WriteRune(r)
		}
	}
	return b.String()
}

// normal reports whether a value is already in normal form: ASCII digits,
// with an upper-case X last for an ID number. Almost every value is.
func normal(kind Kind, v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= '0' && c <= '9' || kind == IDNumber && c == 'X' && i == len(v)-1 {
			continue
		}
		return false
	}
	return true
}

// Mask shows a number the way staff screens and exports do: an 18-character
// ID keeps its first 6 and last 4 characters (500241********0295), a phone
// its first 3 and last 4 digits (138****1234). Short or odd values keep at
// most their last 2 characters, so a mask never shows most of a value.
func Mask(kind Kind, value string) string {
	v := Normalize(kind, value)
	n := utf8.RuneCountInString(v)
	if n == 0 {
		return ""
	}
	r := []rune(v)
	switch {
	case kind == IDNumber && n == 18:
		return string(r[:6]) + "********" + string(r[14:])
	case kind == IDNumber && n == 15: // first-generation ID numbers
		return string(r[:6]) + "*****" + string(r[11:])
	case kind == Phone && n >= 11:
		return string(r[:3]) + strings.Repeat("*", n-7) + string(r[n-4:])
	case kind == Phone && n >= 7: // landlines without area code
		return strings.Repeat("*", n-4) + string(r[n-4:])
	}
	keep := min(2, n/3)
	return strings.Repeat("*", n-keep) + string(r[n-keep:])
}
