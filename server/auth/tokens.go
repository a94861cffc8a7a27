package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types, in the typ claim.
const (
	TypeAccess = "access"
)

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	Type      string `json:"typ"`
	DeviceID  string `json:"did"`
	SessionID string `json:"sid"` // the refresh-token family
	Role      string `json:"role"`
	jwt.RegisteredClaims
}

// Clock skew tolerated between instances.
const leeway = 10 * time.Second

// signAccess signs an access token. It is deterministic for given claims and
// key: Ed25519 signatures are, and the header and claims marshal the same
// way every time. A replayed refresh therefore returns the identical token.
func (s *Service) signAccess(c AccessClaims) (string, error) {
	k := s.sec.SigningKeys[0]
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.KID
	signed, err := t.SignedString(k.Private())
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return signed, nil
}

func (s *Service) accessClaims(userID, deviceID, familyID, role, jti string, iat time.Time) AccessClaims {
	iat = iat.Truncate(time.Second)
	return AccessClaims{
		Type: TypeAccess, DeviceID: deviceID, SessionID: familyID, Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{s.opts.Audience},
			ExpiresAt: jwt.NewNumericDate(iat.Add(s.opts.AccessTTL)),
			NotBefore: jwt.NewNumericDate(iat),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        jti,
		},
	}
}

// verifyAccess checks signature, algorithm, key id, issuer, audience,
// lifetime and type. Only EdDSA is accepted, whatever the header says, so
// "none" and HS/RS tokens made with the public key fail before any key is
// used; an unknown kid fails too.
func (s *Service) verifyAccess(token string) (AccessClaims, error) {
	var c AccessClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.opts.Issuer),
		jwt.WithAudience(s.opts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.opts.Now),
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := s.verKeys[kid]
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return key, nil
	})
	expired := false
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired) && c.ExpiresAt != nil:
		// The signature has been verified by now. Say "expired" only if the
		// token was good otherwise, so the client refreshes only when that can help.
		justBefore := c.ExpiresAt.Add(-time.Second)
		again := jwt.NewValidator(jwt.WithIssuer(s.opts.Issuer), jwt.WithAudience(s.opts.Audience),
			jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return justBefore }))
		if verr := again.Validate(&c); verr != nil {
			return c, ErrInvalidToken.Wrap(err)
		}
		expired = true
	default:
		return c, ErrInvalidToken.Wrap(err)
	}
	if c.Type != TypeAccess {
		return c, ErrInvalidToken.Wrap(fmt.Errorf("token type %q", c.Type))
	}
	if c.Subject == "" || c.DeviceID == "" || c.SessionID == "" || c.NotBefore == nil {
		return c, ErrInvalidToken.Wrap(errors.New("token lacks sub, did, sid or nbf"))
	}
	if expired {
		return c, ErrTokenExpired
	}
	return c, nil
}

var b64url = base64.RawURLEncoding

// newRefreshToken returns a fresh opaque refresh token: 256 random bits.
func newRefreshToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b64url.EncodeToString(b)
}

// successorOf derives the token that replaces a presented one. Being a
// function of the presented token, a replay of it within the grace window
// finds the very same successor, so the server can hand the lost answer out
// again without ever storing a token in clear.
func (s *Service) successorOf(token string) string {
	m := hmac.New(sha256.New, s.sec.RefreshKey)
	m.Write([]byte("rotate:" + token))
	return b64url.EncodeToString(m.Sum(nil))
}

// hashToken is how refresh tokens are stored and looked up.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// VerificationKeys exposes the public keys by kid, for tests and tools that
// check tokens offline.
func (s *Service) VerificationKeys() map[string]ed25519.PublicKey {
	out := make(map[string]ed25519.PublicKey, len(s.verKeys))
	for k, v := range s.verKeys {
		out[k] = v
	}
	return out
}
