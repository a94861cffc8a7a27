package coverage

import (
	"context"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
)

// Device health shows a supervisor work that exists but has not reached the
// server: per officer, each device's last sync, the changes still waiting on
// it as it reported them at that sync, its clock offset and app version.

// DeviceState is one device as its last sync left it.
type DeviceState struct {
	DeviceID       string     `json:"device_id"`
	Name           string     `json:"name"`
	Status         string     `json:"status"`
	AppVersion     string     `json:"app_version"`
	LastSeenAt     *time.Time `json:"last_seen_at,omitempty"`
	LastSyncAt     *time.Time `json:"last_sync_at,omitempty"`
	PendingChanges int        `json:"pending_changes"`
	ClockOffsetMS  int64      `json:"clock_offset_ms"`
	ClockOff       bool       `json:"clock_off"` // beyond the branch's clock threshold
}

// OfficerHealth is one officer and their devices.
type OfficerHealth struct {
	OfficerID      string        `json:"officer_id"`
	Username       string        `json:"username"`
	Name           string        `json:"name"`
	OrgUnitCode    string        `json:"org_unit_code"`
	OrgUnitName    string        `json:"org_unit_name"`
	LastSyncAt     *time.Time    `json:"last_sync_at,omitempty"` // latest over active devices
	PendingChanges int           `json:"pending_changes"`        // summed over active devices
	NeverSynced    bool          `json:"never_synced"`
	Devices        []DeviceState `json:"devices"`
}

// DeviceHealth answers GET /coverage/device-health.
type DeviceHealth struct {
	Scope    ScopeInfo       `json:"scope"`
	Officers []OfficerHealth `json:"officers"`
}

// DeviceHealth lists the scope's officers and their devices.
func (s *Service) DeviceHealth(ctx context.Context, a store.Actor, orgID, officerID string) (DeviceHealth, error) {
	sc, err := s.scopeOf(ctx, a, orgID, officerID)
	if err != nil {
		return DeviceHealth{}, err
	}
	set, err := s.db.CoverageSettingsOf(ctx, sc.BranchID)
	if err != nil {
		return DeviceHealth{}, err
	}
	rows, err := s.db.OfficerDeviceHealth(ctx, a, sc)
	if err != nil {
		return DeviceHealth{}, err
	}
	out := DeviceHealth{Scope: ScopeInfo{Kind: sc.Kind, ID: sc.ID, Code: sc.Code, Name: sc.Name}, Officers: []OfficerHealth{}}
	idx := map[string]int{}
	maxOffset := int64(set.MaxClockOffsetS) * 1000
	for _, r := range rows {
		i, ok := idx[r.OfficerID]
		if !ok {
			name := r.DisplayName
			if name == "" {
				name = r.Username
			}
			out.Officers = append(out.Officers, OfficerHealth{OfficerID: r.OfficerID, Username: r.Username, Name: name,
				OrgUnitCode: r.OrgUnitCode, OrgUnitName: r.OrgUnitName, NeverSynced: true, Devices: []DeviceState{}})
			i = len(out.Officers) - 1
			idx[r.OfficerID] = i
		}
		if r.DeviceID == nil {
			continue
		}
		o := &out.Officers[i]
		d := DeviceState{DeviceID: *r.DeviceID, LastSeenAt: r.LastSeenAt, LastSyncAt: r.LastSyncAt}
		d.Name, d.Status, d.AppVersion = deref(r.DeviceName), deref(r.DeviceStatus), deref(r.AppVersion)
		if r.PendingChanges != nil {
			d.PendingChanges = *r.PendingChanges
		}
		if r.ClockOffsetMS != nil {
			d.ClockOffsetMS = *r.ClockOffsetMS
		}
		d.ClockOff = d.ClockOffsetMS > maxOffset || -d.ClockOffsetMS > maxOffset
		o.Devices = append(o.Devices, d)
		if d.Status != store.DeviceActive {
			continue
		}
		o.PendingChanges += d.PendingChanges
		if d.LastSyncAt != nil {
			o.NeverSynced = false
			if o.LastSyncAt == nil || d.LastSyncAt.After(*o.LastSyncAt) {
				o.LastSyncAt = d.LastSyncAt
			}
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
