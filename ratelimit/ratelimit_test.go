package ratelimit

import (
	"testing"
	"time"
)

func TestSlidingWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3, time.Second)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if !l.Allow("a") {
			t.Fatalf("event %d refused within the limit", i+1)
		}
	}
	if l.Allow("a") {
		t.Fatal("a 4th event within the window was allowed")
	}
	if !l.Allow("b") {
		t.Fatal("another key was limited")
	}
	if !l.Exceeded("a") || l.Exceeded("b") {
		t.Fatal("Exceeded disagrees with Allow")
	}
	now = now.Add(999 * time.Millisecond)
	if l.Allow("a") {
		t.Fatal("allowed before the window slid past the first event")
	}
	now = now.Add(2 * time.Millisecond)
	if !l.Allow("a") {
		t.Fatal("refused after the window slid: refused events must not count")
	}
	l.Reset("a")
	if l.Exceeded("a") {
		t.Fatal("Reset kept the events")
	}
}

func TestStaleKeysAreSwept(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(1, time.Second)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.Allow(string(rune('a'+i%26)) + time.Duration(i).String())
	}
	now = now.Add(3 * time.Second)
	l.Allow("fresh")
	l.mu.Lock()
	n := len(l.events)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d keys kept after their window passed, want 1", n)
	}
}

func TestUndoGivesBackTheNewestEvent(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(2, time.Second)
	l.now = func() time.Time { return now }
	l.Allow("a")
	now = now.Add(600 * time.Millisecond)
	l.Allow("a")
	l.Undo("a")
	if !l.Allow("a") || l.Allow("a") {
		t.Fatal("Undo did not give back exactly one event")
	}
	l.Undo("a")
	now = now.Add(500 * time.Millisecond) // the first event has left the window
	first, second := l.Allow("a"), l.Allow("a")
	if !first || !second {
		t.Fatal("Undo took the oldest event, not the newest")
	}
	l.Undo("never seen")
}
