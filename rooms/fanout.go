package rooms

import (
	"context"
	"time"
)

// Fan-out of "is live" notices: createSession only queues one row
// (SessionStore.QueueFollowerNotice), so it answers as fast for a host with
// 100,000 followers as for one with none; RunFanout, on every node, stores
// the followers' notifications (and their queued pushes) batch by batch and
// tells their open sockets.

const (
	// fanoutBatch followers are notified per transaction: large enough that
	// 100,000 followers take a few hundred commits, small enough that one
	// transaction stays well under a second on SQLite.
	fanoutBatch = 500
	// fanoutPoll is how often a node looks for fan-outs queued elsewhere
	// (another node's, or one left by a crash) when it was not kicked.
	fanoutPoll = time.Second
	// fanoutRetry is the wait after a store error.
	fanoutRetry = 2 * time.Second
)

// fanoutKick wakes this node's RunFanout without blocking.
func (s *Service) fanoutKick() {
	select {
	case s.fanout <- struct{}{}:
	default:
	}
}

// RunFanout delivers queued follower notices until ctx ends. Every node
// runs one; the store keeps two from taking the same followers.
func (s *Service) RunFanout(ctx context.Context) {
	for {
		f, err := s.store.FanoutBatch(ctx, fanoutBatch)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.ErrorContext(ctx, "fanning out a followers' notice failed", "err", err)
			if !s.sleep(ctx, fanoutRetry, false) {
				return
			}
			continue
		}
		// A stored batch reaches the open sockets even when ctx has just
		// ended: the notifications are committed.
		tell := context.WithoutCancel(ctx)
		for _, d := range f.Delivered {
			s.PushNotification(tell, d.UserID, NotificationMessage(d, f.Notice))
		}
		if ctx.Err() != nil {
			return
		}
		if f.Found {
			if !f.More {
				s.log.InfoContext(ctx, "followers notified", "host", f.HostID, "type", f.Notice.Type)
			}
			continue // more of this one, or the next one queued
		}
		if !s.sleep(ctx, fanoutPoll, true) {
			return
		}
	}
}

// sleep waits d, or less when kickable and a fan-out is queued here; false
// when ctx ended.
func (s *Service) sleep(ctx context.Context, d time.Duration, kickable bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var kick <-chan struct{}
	if kickable {
		kick = s.fanout
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-kick:
	}
	return true
}
