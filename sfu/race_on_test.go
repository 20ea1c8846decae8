//go:build race

package sfu

// raceDetector tells the timing tests of impaired links that every
// goroutine runs several times slower than the network they measure.
const raceDetector = true
