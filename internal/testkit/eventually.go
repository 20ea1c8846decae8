package testkit

import (
	"testing"
	"time"
)

// Poll is how often Eventually checks its condition.
const Poll = 20 * time.Millisecond

// Eventually checks cond every Poll until it holds, and fails the test
// naming what when it does not within the given time.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(Poll)
	}
}

// EventuallyOK is Eventually for a check that says what is still wrong:
// it fails with check's last error.
func EventuallyOK(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", within, what, err)
		}
		time.Sleep(Poll)
	}
}
