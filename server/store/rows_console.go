package store

import "time"

// ConsoleSession is a signed-in web console browser. IDHash is the SHA-256
// of the cookie value; the value itself is never stored.
type ConsoleSession struct {
	IDHash     string `gorm:"primaryKey"`
	BranchID   string
	UserID     string
	CSRFToken  string `gorm:"column:csrf_token"`
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	EndReason  string
}

func (ConsoleSession) TableName() string { return "console_sessions" }
