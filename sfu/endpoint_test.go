package sfu

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// nullSignaler is an endpoint peer's signaler: WHIP and WHEP carry only
// the answer; failures are counted.
type nullSignaler struct{ failed chan Target }

func (nullSignaler) SubscriberOffer(string)                     {}
func (nullSignaler) Candidate(Target, *webrtc.ICECandidateInit) {}
func (s nullSignaler) Failed(t Target) {
	if s.failed != nil {
		s.failed <- t
	}
}

// fullOffer makes pc's offer with every candidate in it (no trickle).
func fullOffer(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

func setAnswer(t *testing.T, pc *webrtc.PeerConnection, answer string) {
	t.Helper()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
}

// ingest publishes media's tracks sendonly over one PC, as a WHIP client.
func ingest(t *testing.T, room *Room, id string, prefix string) (*webrtc.PeerConnection, *Peer) {
	t.Helper()
	media := newMediaSender(t, prefix)
	pc := newClientPC(t)
	var senders []*webrtc.RTPSender
	for _, tr := range media.Tracks() {
		tx, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		senders = append(senders, tx.Sender())
	}
	p, answer, err := room.AddIngest(id, nullSignaler{}, fullOffer(t, pc))
	if err != nil {
		t.Fatal(err)
	}
	setAnswer(t, pc, answer)
	media.Start(senders...)
	return pc, p
}

// watch receives over one recvonly PC, as a WHEP client.
func watch(t *testing.T, room *Room, id string) (*webrtc.PeerConnection, *receiver, error) {
	t.Helper()
	rec := newReceiver()
	t.Cleanup(rec.wait) // after the PC closes (cleanups run last first)
	pc := newClientPC(t)
	pc.OnTrack(rec.onTrack)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	_, answer, err := room.AddViewer(ViewerParams{ID: id, Offer: fullOffer(t, pc), Signaler: nullSignaler{}})
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	setAnswer(t, pc, answer)
	return pc, rec, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIngestAndViewer: an ingest peer's tracks reach a viewer peer (one
// PC each way, full answers); a viewer before anything is published is
// refused; when the publisher restarts on a new connection, the viewer's
// sections take the new sources without renegotiation; an ingest peer
// subscribes to nothing.
func TestIngestAndViewer(t *testing.T) {
	room := newTestEngine(t).Room("s")
	if _, _, err := watch(t, room, "early"); !errors.Is(err, ErrNothingToWatch) {
		t.Fatalf("viewer before any source: err = %v, want ErrNothingToWatch", err)
	}
	pubPC, pub := ingest(t, room, "obs", "a")
	waitFor(t, "the ingest's two tracks are sources", func() bool { return len(room.Tracks()) == 2 })

	_, rec, err := watch(t, room, "whep")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the viewer receives audio and video", func() bool { return rec.count("video") > 10 && rec.count("audio") > 10 })
	pub.mu.Lock()
	n := len(pub.downTracks)
	pub.mu.Unlock()
	if n != 0 {
		t.Fatalf("the ingest peer has %d down-tracks, want none", n)
	}

	// The encoder restarts: its old connection goes, a new one publishes.
	pubPC.Close()
	room.RemovePeer("obs")
	v, a := rec.count("video"), rec.count("audio")
	ingest(t, room, "obs2", "b")
	waitFor(t, "the viewer receives the new sources in the same sections", func() bool {
		return rec.count("video") > v+10 && rec.count("audio") > a+10
	})
	if got := room.Peer("whep"); got == nil || len(got.slots) != 2 {
		t.Fatalf("the viewer's slots after the restart: %v", got)
	}
}
