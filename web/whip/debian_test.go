package whip_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/web/whip"
)

// GStreamer test sources as simple-whip-client's README gives them: Opus
// and VP8 on the payload types it expects.
const (
	gstAudio = "audiotestsrc is-live=true wave=red-noise ! audioconvert ! audioresample ! queue ! opusenc ! rtpopuspay pt=100 ssrc=1 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=100"
	gstVideo = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! queue ! vp8enc deadline=1 ! rtpvp8pay pt=96 ssrc=2 ! queue ! application/x-rtp,media=video,encoding-name=VP8,payload=96"
)

// lockedBuffer collects a process's output from its two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDebianWHIPClient: Debian's simple-whip-client (GStreamer's
// webrtcbin) publishes test audio and video with the host's stream key;
// a viewer over our socket protocol receives both.
func TestDebianWHIPClient(t *testing.T) {
	bin, err := exec.LookPath("whip-client")
	if err != nil {
		needs(t, "whip-client (Debian package simple-whip-client) is not installed: apt-get install simple-whip-client")
	}
	// libnice (webrtcbin's ICE) never gathers loopback candidates, and a
	// reply from 127.0.0.1 to another address is dropped: the SFU takes
	// ICE on this machine's own address.
	s := newStackOn(t, whip.Params{}, hostAddress(t))
	hostID, _ := s.user(t, "host")
	_, viewerToken := s.user(t, "viewer")
	key := s.streamKey(t, hostID, "GStreamer", "tech")

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-u", s.url+"/whip", "-t", key, "-A", gstAudio, "-V", gstVideo, "-l", "5", "-o")
	cmd.Env = append(os.Environ(), whipClientEnv(t)...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nwhip-client's output:\n%s", append(args, out.String())...)
	}

	var sessionID string
	deadline := time.Now().Add(30 * time.Second)
	for sessionID == "" {
		if sess, err := s.st.LiveSessionOf(context.Background(), hostID); err == nil {
			sessionID = sess.ID
			break
		}
		select {
		case err := <-exited:
			exited <- err
			fail("whip-client exited (%v) before publishing", err)
		default:
		}
		if time.Now().After(deadline) {
			fail("whip-client started no session")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sock := testkit.NewMediaPeer(t, testkit.Dial(t, testkit.SocketURL(s.url), viewerToken), testkit.Loopback())
	sock.Join(sessionID)
	deadline = time.Now().Add(60 * time.Second)
	for sock.Count("video") < 30 || sock.Count("audio") < 30 {
		if time.Now().After(deadline) {
			fail("the socket viewer got %d video and %d audio packets from whip-client", sock.Count("video"), sock.Count("audio"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	stage := testkit.WaitFor(sock.Socket, func(m protocol.Tracks) bool { return len(m.Participants) == 1 && len(m.Participants[0].Tracks) == 2 })
	if stage.Participants[0].UserID != hostID {
		t.Fatalf("whip-client's tracks are not the host's: %+v", stage)
	}
	if n := s.whip.Resources(); n != 1 {
		t.Fatalf("%d resources with whip-client publishing, want 1", n)
	}
}

// needs skips the test loudly, or fails it under CHOBI_REQUIRE_SERVICES=1.
func needs(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CHOBI_REQUIRE_SERVICES") == "1" {
		t.Fatalf(format+" (CHOBI_REQUIRE_SERVICES=1)", args...)
	}
	t.Skipf("SKIPPED LOUDLY: "+format, args...)
}

// hostAddress is a non-loopback IPv4 address of this machine.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	needs(t, "this machine has no non-loopback IPv4 address for libnice to reach")
	return ""
}

// whipClientEnv builds testdata/soupshim.c with the system's cc and
// preloads it. Debian 12's whip-client links libsoup 2.4, and webrtcbin's
// libnice pulls in libsoup 3 (through gupnp-igd, for UPnP port mapping),
// whose constructor aborts the process when it finds libsoup 2's
// soup_uri_new through g_module_symbol ("Using libsoup2 and libsoup3 in the
// same process is not supported"). The shim hides that one symbol from that
// one lookup; whip-client's own calls are bound by the dynamic linker and
// unaffected. UPnP is never used here (no gateway), so libsoup 3 is never
// called.
func whipClientEnv(t *testing.T) []string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		needs(t, "no C compiler (cc) to build whip-client's libsoup shim: apt-get install gcc")
	}
	dir := t.TempDir()
	src, so := filepath.Join(dir, "soupshim.c"), filepath.Join(dir, "soupshim.so")
	shim, err := os.ReadFile("testdata/soupshim.c") // tests/e2e builds the same file
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, shim, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", so, src, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("building the shim: %v\n%s", err, out)
	}
	return []string{"LD_PRELOAD=" + so}
}
