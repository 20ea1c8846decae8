//go:build !linux

package sfu

import "time"

// threadCPU is not measured off Linux (no RUSAGE_THREAD).
func threadCPU() (time.Duration, bool) { return 0, false }
