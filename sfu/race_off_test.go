//go:build !race

package sfu

const raceDetector = false
