//go:build race

package main

// raceEnabled: the race detector allows at most 8,128 live goroutines, and
// TestSlowBodiesLeaveRoomForOthers's clients need some 20,000 each.
const raceEnabled = true
