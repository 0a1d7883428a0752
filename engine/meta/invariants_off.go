//go:build !invariants && !race

package meta

// invariantsEnabled: off in ordinary builds; Apply's own validation keeps the invariants.
const invariantsEnabled = false
