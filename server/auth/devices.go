package auth

import (
	"context"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Device management is for staff: admins, branch managers and supervisors,
// each over the users they reach.
func mayManageDevices(a store.Actor) bool {
	return a.Role == store.RoleAdmin || a.Role == store.RoleBranchManager || a.Role == store.RoleSupervisor
}

// Devices lists the devices of the users the actor reaches.
func (s *Service) Devices(ctx context.Context, a store.Actor, f store.DeviceFilter) ([]syncproto.DeviceInfo, error) {
	if err := checkDeviceListing(a, f); err != nil {
		return nil, err
	}
	ds, err := s.db.ListDevices(ctx, a, f)
	if err != nil {
		return nil, err
	}
	out := make([]syncproto.DeviceInfo, len(ds))
	for i, d := range ds {
		out[i] = deviceToWire(d)
	}
	return out, nil
}

// DevicesPage pages through the devices of the users the actor reaches
// (sort keys in store.DeviceSorts; the search matches the user's username or
// name or the device's name) with their total.
func (s *Service) DevicesPage(ctx context.Context, a store.Actor, f store.DeviceFilter, p store.ListPage) ([]syncproto.DeviceInfo, int64, error) {
	if err := checkDeviceListing(a, f); err != nil {
		return nil, 0, err
	}
	ds, total, err := s.db.ListDevicesPage(ctx, a, f, p)
	if err != nil {
		return nil, 0, err
	}
	out := make([]syncproto.DeviceInfo, len(ds))
	for i, d := range ds {
		out[i] = deviceToWire(d)
	}
	return out, total, nil
}

func checkDeviceListing(a store.Actor, f store.DeviceFilter) error {
	if !mayManageDevices(a) {
		return apperr.Forbidden
	}
	switch f.Status {
	case "", store.DeviceActive, store.DeviceRevoked:
		return nil
	default:
		return apperr.Invalid("status", "状态只能是 active 或 revoked", "status must be active or revoked")
	}
}

// RevokeDevice revokes a device the actor reaches and ends its sessions; its
// next request is answered device_revoked. Out of reach reads as not found.
func (s *Service) RevokeDevice(ctx context.Context, a store.Actor, id string) (syncproto.DeviceInfo, error) {
	if !mayManageDevices(a) {
		return syncproto.DeviceInfo{}, apperr.Forbidden
	}
	d, changed, err := s.db.RevokeDevice(ctx, a, id)
	if err != nil {
		return syncproto.DeviceInfo{}, err
	}
	if changed {
		s.log.InfoContext(ctx, "auth.device_revoked", "device_id", d.ID, "user_id", d.UserID,
			"by_user_id", a.UserID, "request_id", a.RequestID)
	}
	return deviceToWire(d), nil
}

// Me describes the actor and their device.
func (s *Service) Me(ctx context.Context, a store.Actor) (syncproto.Me, error) {
	w, err := s.db.WhoamiOf(ctx, a)
	if err != nil {
		return syncproto.Me{}, fmt.Errorf("me: %w", err)
	}
	return syncproto.Me{
		UserID: w.User.ID, Username: w.User.Username, DisplayName: w.User.DisplayName, Role: w.User.Role,
		BranchID: w.User.BranchID,
		OrgUnit:  syncproto.OrgUnitRef{ID: w.OrgUnit.ID, Code: w.OrgUnit.Code, Name: w.OrgUnit.Name, Kind: w.OrgUnit.Kind},
		Device:   deviceToWire(store.DeviceInfo{Device: w.Device}),
	}, nil
}

func deviceToWire(d store.DeviceInfo) syncproto.DeviceInfo {
	out := syncproto.DeviceInfo{
		ID: d.ID, ClientDeviceID: d.ClientDeviceID, Name: d.Name, Status: d.Status, AppVersion: d.AppVersion,
		UserID: d.UserID, Username: d.Username, DisplayName: d.UserDisplayName, Role: d.UserRole,
		OrgUnitID: d.OrgUnitID, OrgUnitName: d.OrgUnitName,
		CreatedAt: d.CreatedAt, LastSeenAt: d.LastSeenAt, LastSyncAt: d.LastSyncAt,
		PendingChanges: d.PendingChanges, ClockOffsetMS: d.ClockOffsetMS, RevokedAt: d.RevokedAt,
	}
	if d.RevokedBy != nil {
		out.RevokedBy = *d.RevokedBy
	}
	return out
}
