// Package ratelimit limits how often a key (a user, an address) may do
// something: at most N events in any window of the given length.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter is an in-memory sliding-log limiter, safe for concurrent use.
// Memory is bounded by the keys active within one window: stale keys are
// swept as the limiter is used.
type Limiter struct {
	n   int
	per time.Duration
	now func() time.Time

	mu        sync.Mutex
	events    map[string][]time.Time
	lastSweep time.Time
}

// New allows n events per window of length per for each key.
func New(n int, per time.Duration) *Limiter {
	return &Limiter{n: n, per: per, now: time.Now, events: map[string][]time.Time{}}
}

// Allow records an event for key and reports whether it is within the limit.
// A refused event is not recorded, so a client that backs off recovers.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweepLocked(now)
	kept := l.recentLocked(key, now)
	if len(kept) >= l.n {
		l.events[key] = kept
		return false
	}
	l.events[key] = append(kept, now)
	return true
}

// Exceeded reports whether key has used up its events, without recording one.
func (l *Limiter) Exceeded(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recentLocked(key, l.now())) >= l.n
}

// Undo forgets key's newest event: one recorded by Allow before it was
// known whether it counts (a login attempt, counted before its password
// is checked, that succeeded).
func (l *Limiter) Undo(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev := l.events[key]; len(ev) > 0 {
		l.events[key] = ev[:len(ev)-1]
	}
}

// Reset forgets key's events (a successful login clears its failures).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.events, key)
	l.mu.Unlock()
}

func (l *Limiter) recentLocked(key string, now time.Time) []time.Time {
	ev := l.events[key]
	i := 0
	for i < len(ev) && now.Sub(ev[i]) >= l.per {
		i++
	}
	return ev[i:]
}

func (l *Limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.per {
		return
	}
	l.lastSweep = now
	for k, ev := range l.events {
		if len(ev) == 0 || now.Sub(ev[len(ev)-1]) >= l.per {
			delete(l.events, k)
		}
	}
}
