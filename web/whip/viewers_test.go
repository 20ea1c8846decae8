package whip_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/web/whip"
)

// resources are the process's goroutines, descriptors and sockets.
type resources struct {
	goroutines, fds, sockets int
	names                    string // the descriptors' targets, for the failure message
}

func measure(t *testing.T) resources {
	t.Helper()
	http.DefaultClient.CloseIdleConnections() // kept-alive API connections are not the viewers'
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	r := resources{goroutines: runtime.NumGoroutine()}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && (strings.HasSuffix(target, ".db") || strings.HasSuffix(target, ".db-wal") || strings.HasSuffix(target, ".db-shm")) {
			continue // the store's connection pool grows under concurrent requests: not the viewers'
		}
		r.fds++
		if err == nil && strings.HasPrefix(target, "socket:") {
			r.sockets++
		} else if err == nil {
			r.names += " " + target
		}
	}
	return r
}

// TestHundredWHEPViewersJoinAndLeave: 100 anonymous WHEP viewers of a
// WHIP publication connect, receive video and count in viewerCount; after
// each DELETEs and closes, the goroutines, descriptors and sockets of the
// process (server and clients both) are back where they were, and so are
// the SFU's peers and the viewer count.
func TestHundredWHEPViewersJoinAndLeave(t *testing.T) {
	const viewers = 100
	s := newStack(t, whip.Params{AnonymousViewers: true, Posts: 1000})
	hostID, _ := s.user(t, "host")
	key := s.streamKey(t, hostID, "Night", "music")
	pub, media := publisher(t, s, key)
	if resp, body := pub.post("/whip"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /whip = %d %s", resp.StatusCode, body)
	}
	pub.connected()
	media.Run()
	sess := s.state(t, hostID).session
	testkit.Eventually(t, 20*time.Second, "the publication's tracks", func() bool { return len(s.media.Room(sess).Tracks()) == 2 })

	before := measure(t)
	peersBefore := s.media.Stats().Peers
	// Each viewer runs in a subtest of its own, so that its client PC's
	// cleanup (and its reader's) can run when it leaves, not at the end.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10) // ten joining at a time on the shared machine
	var mu sync.Mutex
	leave := make([]func(), 0, viewers)
	done := make(chan struct{})
	for i := range viewers {
		wg.Add(1)
		go t.Run("viewer", func(t *testing.T) {
			sem <- struct{}{}
			c, got := viewer(t, s, "")
			resp, body := c.post("/whep/" + sess)
			if resp.StatusCode != http.StatusCreated {
				<-sem
				wg.Done()
				t.Errorf("viewer %d: POST /whep = %d %s", i, resp.StatusCode, body)
				return
			}
			c.connected()
			<-sem
			got.waitFor("a WHEP viewer receives video", 5, 0)
			mu.Lock()
			leave = append(leave, func() {
				if code := c.delete(); code != http.StatusOK {
					t.Errorf("DELETE = %d", code)
				}
				c.pc.Close()
			})
			mu.Unlock()
			wg.Done()
			<-done // the subtest (and its PC's cleanup) ends once every viewer has left
		})
	}
	wg.Wait()
	if n := s.rooms.ViewerCount(context.Background(), sess); n != viewers {
		t.Fatalf("viewerCount = %d with %d WHEP viewers", n, viewers)
	}
	if got := s.whip.Resources(); got != viewers+1 {
		t.Fatalf("%d resources, want %d", got, viewers+1)
	}
	for _, f := range leave {
		f()
	}
	close(done)
	var now resources
	deadline := time.Now().Add(60 * time.Second)
	for {
		now = measure(t)
		if now.goroutines <= before.goroutines && now.fds <= before.fds && now.sockets <= before.sockets {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			os.WriteFile(os.TempDir()+"/whep-leak.txt", buf[:runtime.Stack(buf, true)], 0o644)
			t.Fatalf("resources not back: before %+v, now %+v (stacks in %s)", before, now, os.TempDir()+"/whep-leak.txt")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.rooms.ViewerCount(context.Background(), sess); n != 0 {
		t.Fatalf("viewerCount = %d after every viewer left", n)
	}
	if p := s.media.Stats().Peers; p != peersBefore {
		t.Fatalf("SFU peers = %d after the viewers left, want %d", p, peersBefore)
	}
	if got := s.whip.Resources(); got != 1 {
		t.Fatalf("%d resources after the viewers left, want the publisher's alone", got)
	}
	t.Logf("before: %+v, after: %+v", before, measure(t))
}
