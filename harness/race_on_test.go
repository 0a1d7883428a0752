//go:build race

package harness

// raceEnabled: this test binary runs under the race detector, so a broker it
// builds is built with -race too (and shares the build cache).
const raceEnabled = true
