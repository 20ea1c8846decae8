package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
)

// A viewer joining mid-stream starts from the source's cache: its first
// video packet is the publisher's last keyframe, followed by every frame
// since (timestamps squeezed one tick apart, so a decoder runs through
// them at once) and then the live stream, with no keyframe asked of the
// publisher on its behalf.
func TestLateViewerStartsAtTheCachedKeyframe(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	host := join(t, room, "host")
	media := newMediaSender(t, "h-") // a keyframe every 30 frames (20 ms apart)
	for _, s := range host.publish(media.Video, media.Audio) {
		media.WatchPLI(s)
	}
	media.Run()
	frameNow := media.Seq
	// Join a third of the way into a group of pictures, once the source
	// has seen a keyframe of its own (not one asked for at its start).
	testkit.Eventually(t, 10*time.Second, "a third into the second group of pictures", func() bool {
		n := frameNow()
		return n > 30 && n%30 >= 8 && n%30 <= 12
	})
	before := e.Stats()
	viewer := join(t, room, "viewer")
	testkit.Eventually(t, 10*time.Second, "video at the late viewer", func() bool { return viewer.recv.count("video") >= 40 })
	media.Halt()
	after := e.Stats()

	_, ps := viewer.recv.trackOf("video")
	counter := func(i int) uint32 { return binary.BigEndian.Uint32(ps[i].Payload[2:]) }
	if ps[0].Payload[1]&0x01 != 0 || counter(0)%30 != 0 {
		t.Fatalf("first video packet is frame %d (keyframe: %v), want a keyframe (every 30th)", counter(0), ps[0].Payload[1]&0x01 == 0)
	}
	live := false
	squeezed := 0
	for i := 1; i < len(ps); i++ {
		if ps[i].SequenceNumber != ps[i-1].SequenceNumber+1 || counter(i) != counter(i-1)+1 {
			t.Fatalf("packet %d: sequence %d after %d, frame %d after %d", i, ps[i].SequenceNumber, ps[i-1].SequenceNumber, counter(i), counter(i-1))
		}
		switch d := ps[i].Timestamp - ps[i-1].Timestamp; {
		case d == 1 && !live:
			squeezed++
		case d == 3000:
			live = true
		default:
			t.Fatalf("packet %d: timestamp moved %d (live: %v)", i, d, live)
		}
	}
	t.Logf("first frame %d, %d squeezed before the live stream; %d packets replayed, keyframe requests %d → %d",
		counter(0), squeezed, after.Replayed-before.Replayed, before.KeyframeRequests, after.KeyframeRequests)
	if after.KeyframeRequests != before.KeyframeRequests {
		t.Errorf("%d keyframe requests for the late viewer, want none: the cache has the keyframe", after.KeyframeRequests-before.KeyframeRequests)
	}
	if after.Replayed == before.Replayed {
		t.Errorf("nothing replayed from the cache")
	}
	e.CloseRoom("s1")
	media.Wait()
	host.recv.wait()
	viewer.recv.wait()
}
