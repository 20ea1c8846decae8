package signaling_test

import (
	"testing"

	"github.com/chobilive/chobi/internal/testkit"
)

// peer is a client that only speaks PROTOCOL.md: a socket, and pion
// PeerConnections on loopback driven by the messages on it.
func (s *stack) peer(t *testing.T, userID string) *testkit.MediaPeer {
	t.Helper()
	return testkit.NewMediaPeer(t, s.dial(t, userID), testkit.Loopback())
}

// newSynth writes numbered VP8 (track name+"-v") and Opus (name+"-a")
// every 20 ms, with a keyframe on every PLI and every 30th frame.
func newSynth(t *testing.T, name string) *testkit.Media {
	t.Helper()
	return testkit.NewMedia(t, testkit.MediaSpec{Stream: name, VideoID: name + "-v", AudioID: name + "-a"})
}
