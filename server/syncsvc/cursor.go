package syncsvc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// A pull cursor is opaque to devices: base64url of a small JSON document,
// a dot, and a MAC over it. It binds the branch and the user, so a cursor
// is worthless to anyone else, and it cannot be edited to skip or replay.
//
// Two phases:
//   - snapshot ("s"): S is the branch's change number read before the first
//     page (S0); E and I are the position in the ordered walk over the
//     officer's scope (entity index, last id delivered).
//   - log ("l"): S is the last change number fully delivered.
type cursor struct {
	V int    `json:"v"`
	P string `json:"p"`
	B string `json:"b"`
	U string `json:"u"`
	S int64  `json:"s"`
	E int    `json:"e,omitempty"`
	I string `json:"i,omitempty"`
}

const (
	phaseSnapshot = "s"
	phaseLog      = "l"
)

var errInvalidCursor = apperr.New(syncproto.CodeInvalidCursor,
	"同步位置无效，请清空本地数据后从头同步", "the cursor is not valid here; wipe downloaded records and pull from an empty cursor").
	With("resync", true)

func (s *Service) mac(payload string) string {
	if s.opts.PII != nil {
		return s.opts.PII.Keyed("sync-cursor", payload)[:32]
	}
	// Without the secrets the MAC is a checksum: it catches corruption and
	// casual edits, and the cursor still cannot reach outside the actor's
	// branch and scope, which every pull re-checks.
	sum := sha256.Sum256([]byte("doorstep-sync-cursor\x00" + payload))
	return hex.EncodeToString(sum[:16])
}

func (s *Service) encodeCursor(c cursor) string {
	c.V = 1
	body, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + s.mac(payload)
}

// decodeCursor checks the MAC and that the cursor belongs to the actor and
// is not ahead of the branch's change log.
func (s *Service) decodeCursor(raw string, a store.Actor, head int64) (cursor, error) {
	var c cursor
	payload, sig, ok := strings.Cut(raw, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.mac(payload))) {
		return c, errInvalidCursor
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(body, &c) != nil {
		return c, errInvalidCursor
	}
	switch {
	case c.V != 1, c.B != a.BranchID, c.U != a.UserID, c.S < 0, c.S > head:
		return c, errInvalidCursor
	case c.P == phaseLog && c.E == 0 && c.I == "":
		return c, nil
	case c.P == phaseSnapshot && c.E >= 0 && c.E < len(snapshotOrder) && (c.I == "" || safeID.MatchString(c.I)):
		return c, nil
	}
	return c, errInvalidCursor
}
