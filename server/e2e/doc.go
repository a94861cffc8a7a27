// Package e2e holds end-to-end tests that run the real server (server/app
// over real databases, through testenv) and drive it only through the
// reference device client, syncproto/client. They live here rather than next
// to the client so that syncproto/client, which a mobile team may vendor
// alone, never depends on the server, not even in its tests.
package e2e
