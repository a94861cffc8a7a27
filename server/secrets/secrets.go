// Package secrets loads the server's keys: the Ed25519 keys that sign access
// tokens, the key that derives refresh tokens, and the AES-GCM and blind-index
// keys that protect ID and phone numbers at rest. When the file does not
// exist it is generated once, with mode 0600. Several instances share keys by
// pointing at the same file.
//
// Rotation: keys are lists, newest first. New tokens and ciphertexts use the
// first key; every listed key is still accepted for verification and
// decryption. Add a key at the front to rotate; drop old ones once unused.
package secrets

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SigningKey is one Ed25519 key for access tokens.
type SigningKey struct {
	KID  string `json:"kid"`
	Seed []byte `json:"seed"` // 32 bytes
}

// Private returns the Ed25519 private key.
func (k SigningKey) Private() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Seed) }

// DataKey is one AES-256 key for personal data at rest.
type DataKey struct {
	ID  string `json:"id"`
	Key []byte `json:"key"` // 32 bytes
}

// Secrets is the content of the secrets file.
type Secrets struct {
	SigningKeys   []SigningKey `json:"signing_keys"`
	RefreshKey    []byte       `json:"refresh_key"`
	DataKeys      []DataKey    `json:"data_keys"`
	BlindIndexKey []byte       `json:"blind_index_key"`
}

// LoadOrCreate reads the secrets file, creating it with fresh keys and mode
// 0600 if it does not exist. created reports whether it was generated.
func LoadOrCreate(path string) (s *Secrets, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s, err = Generate()
		if err != nil {
			return nil, false, err
		}
		if err := write(path, s); err != nil {
			return nil, false, err
		}
		return s, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read secrets: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("secrets file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	s = &Secrets{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, false, fmt.Errorf("parse secrets %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, false, fmt.Errorf("secrets %s: %w", path, err)
	}
	return s, false, nil
}

// Generate makes a fresh set of keys.
func Generate() (*Secrets, error) {
	s := &Secrets{
		SigningKeys:   []SigningKey{{KID: "k" + time.Now().UTC().Format("20060102150405"), Seed: random(32)}},
		RefreshKey:    random(32),
		DataKeys:      []DataKey{{ID: "d" + time.Now().UTC().Format("20060102150405"), Key: random(32)}},
		BlindIndexKey: random(32),
	}
	return s, s.Validate()
}

// Validate checks key sizes and presence.
func (s *Secrets) Validate() error {
	if len(s.SigningKeys) == 0 {
		return errors.New("no signing key")
	}
	for _, k := range s.SigningKeys {
		if k.KID == "" || len(k.Seed) != ed25519.SeedSize {
			return fmt.Errorf("signing key %q: want a kid and a 32-byte seed", k.KID)
		}
	}
	if len(s.RefreshKey) < 32 {
		return errors.New("refresh_key must be at least 32 bytes")
	}
	if len(s.DataKeys) == 0 {
		return errors.New("no data key")
	}
	for _, k := range s.DataKeys {
		if k.ID == "" || len(k.Key) != 32 {
			return fmt.Errorf("data key %q: want an id and a 32-byte key", k.ID)
		}
	}
	if len(s.BlindIndexKey) < 32 {
		return errors.New("blind_index_key must be at least 32 bytes")
	}
	return nil
}

func write(path string, s *Secrets) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secrets dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create secrets: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write secrets: %w", err)
	}
	return f.Close()
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
