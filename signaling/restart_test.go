package signaling_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/signaling"
)

var ufragLine = regexp.MustCompile(`a=ice-ufrag:(\S+)`)

// TestRestartICEKeepsTheViewersTracks: restart_ice from a viewer is
// answered with a subscribe_offer carrying new ICE credentials; the viewer
// answers it and media goes on over the same tracks, with no new tracks
// list. Before anything was offered there is nothing to restart.
func TestRestartICEKeepsTheViewersTracks(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	host.Join(sess.ID)
	early := s.peer(t, s.user(t, "early"))
	early.Join(sess.ID)
	early.Send(protocol.RestartICE{ID: "r0", SessionID: sess.ID})
	if e := early.WaitFor("error", func(m map[string]any) bool { return m["id"] == "r0" }); e["code"] != "conflict" {
		t.Fatalf("restart_ice before any offer: %v", e)
	}

	media := newSynth(t, "host")
	senders := host.Publish(media.Video, media.Audio)
	host.WaitFor("publish_answer", func(m map[string]any) bool { return m["id"] == "pub" })
	media.Start(senders...)
	defer media.Halt()
	v := s.peer(t, s.user(t, "viewer"))
	v.Join(sess.ID)
	first := v.WaitFor("subscribe_offer", nil)
	testkit.Eventually(t, 15*time.Second, "the viewer receiving", func() bool { return v.Count("video") > 10 && v.Count("audio") > 10 })

	count := func(typ string) int {
		n := 0
		for _, f := range v.Frames() {
			if f.Type == typ {
				n++
			}
		}
		return n
	}
	offers, tracks := count("subscribe_offer"), count("tracks")
	v.Send(protocol.RestartICE{ID: "r1", SessionID: sess.ID})
	var restart map[string]any
	testkit.Eventually(t, 10*time.Second, "a restart offer", func() bool {
		if count("subscribe_offer") <= offers {
			return false
		}
		frames := v.Frames()
		for i := len(frames) - 1; i >= 0; i-- {
			if frames[i].Type == "subscribe_offer" {
				restart = frames[i].Map()
				return true
			}
		}
		return false
	})
	before, after := ufragLine.FindStringSubmatch(first["sdp"].(string)), ufragLine.FindStringSubmatch(restart["sdp"].(string))
	if before == nil || after == nil || before[1] == after[1] {
		t.Fatalf("the restart offer kept its ICE credentials: %v → %v", before, after)
	}
	video := v.Count("video")
	testkit.Eventually(t, 15*time.Second, "media after the restart", func() bool { return v.Count("video") > video+30 })
	if n := count("tracks"); n != tracks {
		t.Fatalf("%d tracks lists after the restart, want still %d", n, tracks)
	}
	// Media goes on over the old pair while the new checks run: the
	// connection returns to connected once they succeed.
	testkit.Eventually(t, 15*time.Second, "the subscriber connected after the restart", func() bool {
		return v.Subscriber().ConnectionState().String() == "connected"
	})
}
