//go:build race

package store_test

// raceDetector is set when the tests run under the race detector, which
// slows the pure-Go SQLite (modernc) about fifteenfold.
const raceDetector = true
