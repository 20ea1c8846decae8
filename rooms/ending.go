package rooms

import "sync"

// endings lets one caller at a time end a given session in this process
// (EndSession, InterruptSession). A session can be ended from several
// places at once: two tabs of its host, the host's last Leave beside
// streaming.endSession, EndHosted at shutdown, the orphan sweep. Each
// checks that the session is live, then ends it and tells session_ended;
// without this, callers that all found it live all told. A caller holding
// the lock reads the session again: one that waited finds it ended and
// tells nobody. (Nodes of a cluster ending the same session at the same
// instant are not serialised by this.)
type endings struct {
	mu    sync.Mutex
	locks map[string]*endLock
}

type endLock struct {
	mu      sync.Mutex
	holders int // callers holding or waiting for mu
}

// lock takes the session's end lock and returns its release.
func (e *endings) lock(sessionID string) (unlock func()) {
	e.mu.Lock()
	if e.locks == nil {
		e.locks = map[string]*endLock{}
	}
	l := e.locks[sessionID]
	if l == nil {
		l = &endLock{}
		e.locks[sessionID] = l
	}
	l.holders++
	e.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		e.mu.Lock()
		if l.holders--; l.holders == 0 {
			delete(e.locks, sessionID)
		}
		e.mu.Unlock()
	}
}
