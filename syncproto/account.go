package syncproto

import "time"

// --- Account and devices ------------------------------------------------------

// OrgUnitRef names an org unit: a branch (分行), county sub-branch (支行) or
// outlet (网点).
type OrgUnitRef struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Name string `json:"name"`
	Kind string `json:"kind"` // branch, county or outlet
}

// Me answers GET /api/v1/me: the signed-in user and the device the token
// belongs to.
type Me struct {
	UserID      string     `json:"user_id"`
	Username    string     `json:"username"`
	DisplayName string     `json:"display_name"`
	Role        string     `json:"role"`
	BranchID    string     `json:"branch_id"`
	OrgUnit     OrgUnitRef `json:"org_unit"`
	Device      DeviceInfo `json:"device"`
}

// Device statuses.
const (
	DeviceActive  = "active"
	DeviceRevoked = "revoked"
)

// DeviceInfo describes one registered device and its health: when it last
// synced, how many edits it still holds, how far its clock is off.
type DeviceInfo struct {
	ID             string     `json:"id"`
	ClientDeviceID string     `json:"client_device_id"`
	Name           string     `json:"name"`
	Status         string     `json:"status"`
	AppVersion     string     `json:"app_version"`
	UserID         string     `json:"user_id"`
	Username       string     `json:"username,omitempty"`
	DisplayName    string     `json:"display_name,omitempty"`
	Role           string     `json:"role,omitempty"`
	OrgUnitID      string     `json:"org_unit_id,omitempty"`
	OrgUnitName    string     `json:"org_unit_name,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	LastSeenAt     *time.Time `json:"last_seen_at"`
	LastSyncAt     *time.Time `json:"last_sync_at"`
	PendingChanges int        `json:"pending_changes"`
	ClockOffsetMS  int64      `json:"clock_offset_ms"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	RevokedBy      string     `json:"revoked_by,omitempty"`
}

// DeviceList answers GET /api/v1/devices.
type DeviceList struct {
	Devices []DeviceInfo `json:"devices"`
}
