// Package syncproto holds the wire types of the Doorstep device API: login and
// token refresh, sync push and pull, and the records that travel in them.
//
// It imports nothing from the server, gin or gorm, so a mobile team can vendor
// it alone. The reference device client lives in syncproto/client.
package syncproto
