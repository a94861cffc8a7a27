// Package mobiledocs embeds the Doorstep mobile API documentation: the
// OpenAPI document and the Markdown guides in this directory, so the server
// can serve them at /docs and /openapi.yaml and tests can check the code
// against them. The directory is meant to be read by people first; this file
// only makes it available to the binary.
package mobiledocs

import "embed"

// FS holds openapi.yaml and every guide (*.md) of this directory.
//
//go:embed openapi.yaml *.md
var FS embed.FS

// SpecFile is the name of the OpenAPI document inside FS.
const SpecFile = "openapi.yaml"

// Guide is one Markdown guide, served at /docs/{Slug}.
type Guide struct {
	Slug  string // URL path segment
	File  string // file name inside FS
	Title string // navigation label
}

// Guides lists the guides in reading order. The first is the index page.
var Guides = []Guide{
	{Slug: "", File: "README.md", Title: "Overview"},
	{Slug: "getting-started", File: "getting-started.md", Title: "Getting started"},
	{Slug: "sync-protocol", File: "sync-protocol.md", Title: "The sync protocol"},
	{Slug: "conflict-rules", File: "conflict-rules.md", Title: "Conflict rules"},
	{Slug: "auth-and-devices", File: "auth-and-devices.md", Title: "Auth and the device lifecycle"},
	{Slug: "versioning", File: "versioning.md", Title: "Versioning and compatibility"},
	{Slug: "changelog", File: "CHANGELOG.md", Title: "Changelog"},
}

// Spec returns the raw OpenAPI document.
func Spec() []byte {
	b, err := FS.ReadFile(SpecFile)
	if err != nil {
		// The file is embedded at build time; failing here is a build defect.
		panic("mobiledocs: " + err.Error())
	}
	return b
}
