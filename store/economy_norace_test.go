//go:build !race

package store_test

// raceDetector is set when the tests run under the race detector.
const raceDetector = false
