package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

const maxRefreshTokenBytes = 256

func validateRefresh(token string) error {
	if token == "" {
		return apperr.Invalid("refresh_token", "缺少 refresh_token", "refresh_token is required")
	}
	if len(token) > maxRefreshTokenBytes {
		return apperr.Invalid("refresh_token", "refresh_token 格式无效", "refresh_token is malformed")
	}
	return nil
}

// Refresh rotates a refresh token and returns a new pair. An exact replay of
// the previous token within the grace window returns the same pair again; any
// other return of a rotated token revokes the family and the device's
// sessions and answers refresh_reused.
func (s *Service) Refresh(ctx context.Context, token, clientIP string) (syncproto.TokenResponse, error) {
	if err := validateRefresh(token); err != nil {
		return syncproto.TokenResponse{}, err
	}
	now := s.now()
	successor := s.successorOf(token)
	res, err := s.db.RotateRefresh(ctx, store.Rotation{
		PresentedHash: hashToken(token), SuccessorHash: hashToken(successor),
		Now: now, Grace: s.opts.RefreshGrace, TTL: s.opts.RefreshTTL,
	})
	switch {
	case errors.Is(err, store.ErrDeviceRevoked):
		s.log.InfoContext(ctx, "auth.refresh_refused", "reason", "device_revoked", "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrDeviceRevoked
	case errors.Is(err, store.ErrUserDisabled):
		s.log.InfoContext(ctx, "auth.refresh_refused", "reason", "account_disabled", "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrAccountDisabled
	case err != nil:
		return syncproto.TokenResponse{}, fmt.Errorf("refresh: %w", err)
	}
	sess := res.Session
	switch res.Outcome {
	case store.RefreshRotated, store.RefreshReplayed:
		// The access token's iat is the rotation time, so a replay signs
		// exactly the claims the first answer carried.
		resp, err := s.tokenResponse(sess, successor, *res.Rotated.RotatedAt)
		if err != nil {
			return resp, err
		}
		s.log.InfoContext(ctx, "auth.refresh", "outcome", res.Outcome, "user_id", sess.User.ID,
			"device_id", sess.Device.ID, "session_id", sess.Token.FamilyID, "client_ip", clientIP)
		return resp, nil
	case store.RefreshReused:
		s.log.WarnContext(ctx, "auth.refresh_reused", "user_id", sess.User.ID, "device_id", sess.Device.ID,
			"session_id", res.Rotated.FamilyID, "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrRefreshReused
	case store.RefreshExpired:
		s.log.InfoContext(ctx, "auth.refresh_refused", "reason", "expired", "user_id", sess.User.ID, "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrSessionEnded
	case store.RefreshRevoked:
		s.log.InfoContext(ctx, "auth.refresh_refused", "reason", "session_ended", "user_id", sess.User.ID, "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrSessionEnded
	default:
		s.log.InfoContext(ctx, "auth.refresh_refused", "reason", "unknown_token", "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrInvalidToken
	}
}

// Logout ends the token family of the presented refresh token. An unknown
// token is not an error: the session is over either way, and the answer
// tells nobody whether a token existed.
func (s *Service) Logout(ctx context.Context, token, clientIP string) error {
	if err := validateRefresh(token); err != nil {
		return err
	}
	t, err := s.db.EndFamily(ctx, hashToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.InfoContext(ctx, "auth.logout", "outcome", "unknown_token", "client_ip", clientIP)
		return nil
	case err != nil:
		return fmt.Errorf("logout: %w", err)
	}
	s.log.InfoContext(ctx, "auth.logout", "device_id", t.DeviceID, "session_id", t.FamilyID, "client_ip", clientIP)
	return nil
}
