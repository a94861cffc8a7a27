// Package registry holds monitored households: import of the government
// list, distribution to outlets and officers, assignments and visit plans.
package registry

// Service is the registry service.
type Service struct{}
