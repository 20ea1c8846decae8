package rooms_test

import (
	"errors"
	"net"
	"testing"

	"github.com/chobilive/chobi/rooms"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

// With the directory unreachable (Redis down), a node answers a join to a
// session it serves as usual, and refuses one to a session it does not
// serve as retryable (rooms.ErrNoDirectory): it cannot tell where that
// session's media is, and must not count the viewer in a session it
// cannot give media to.
func TestJoinWithoutTheDirectory(t *testing.T) {
	r := newRig(t, rooms.Config{})
	// A port nothing listens on: every directory call fails at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := chobiredis.NewClient(chobiredis.Options{Addr: addr})
	defer rdb.Close()
	dir, err := chobiredis.NewDirectory(rdb, chobiredis.Options{}, chobiredis.DirectoryConfig{Node: "b", WSURL: "ws://b/ws"})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Stop()
	aud := &audience{}
	nodeB := rooms.NewService(rooms.Params{Store: r.st, Audience: aud, Logger: quiet, Directory: dir})

	elsewhere := r.live(r.user("Host A"), false) // made on another node (r.svc, no directory)
	viewer := r.user("Viewer")
	_, err = nodeB.Enter(r.ctx, viewer, elsewhere.ID)
	if !errors.Is(err, rooms.ErrNoDirectory) {
		t.Fatalf("joining another node's session without the directory: %v, want ErrNoDirectory", err)
	}
	if n := nodeB.ViewerCount(r.ctx, elsewhere.ID); n != 0 || len(aud.all()) != 0 {
		t.Fatalf("a refused join counted %d viewers and told %v", n, aud.all())
	}

	hostB := r.user("Host B")
	here, err := nodeB.CreateSession(r.ctx, hostB, rooms.CreateParams{Title: "Here", Type: "video", Category: "music"})
	if err != nil {
		t.Fatal(err) // placing it in the directory fails, and is only logged
	}
	if _, err := nodeB.Enter(r.ctx, hostB, here.ID); err != nil {
		t.Fatalf("the host joining its own node's session: %v", err)
	}
	if e, err := nodeB.Enter(r.ctx, viewer, here.ID); err != nil || e.ViewerCount != 1 {
		t.Fatalf("a viewer joining a session served here: %+v, %v", e, err)
	}
}
