//go:build invariants || race

package meta

// invariantsEnabled turns on the whole-image check after every applied record (see
// invariants.go). On with -tags invariants and under -race, as pebble's internal/invariants is.
const invariantsEnabled = true
