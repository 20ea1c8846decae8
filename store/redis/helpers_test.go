package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testRedis connects to CHOBI_TEST_REDIS_URL under a key prefix of this
// test's own, whose keys are deleted at the end. Without a configured Redis
// the test is skipped, or fails when CHOBI_REQUIRE_SERVICES=1.
func testRedis(t testing.TB) (*goredis.Client, chobiredis.Options) {
	t.Helper()
	raw := testkit.RedisURL(t, "REDIS PRESENCE, DIRECTORY, BUS AND RATE LIMITS")
	u, err := goredis.ParseURL(raw)
	if err != nil {
		t.Fatalf("CHOBI_TEST_REDIS_URL: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	o := chobiredis.Options{Addr: u.Addr, Password: u.Password, DB: u.DB, Prefix: "chobitest:" + hex.EncodeToString(b[:]) + ":"}
	rdb := chobiredis.NewClient(o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redis at %s does not answer: %v", u.Addr, err)
	}
	t.Cleanup(func() {
		defer rdb.Close()
		if left := keysUnder(t, rdb, o.Prefix); len(left) > 0 {
			rdb.Del(context.Background(), left...)
		}
	})
	return rdb, o
}

func keysUnder(t testing.TB, rdb *goredis.Client, prefix string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatalf("listing keys: %v", err)
	}
	return keys
}

// cutProxy forwards TCP to Redis until cut: then it drops every connection
// and refuses new ones until restored (a network partition between one
// node and Redis, while Redis itself keeps its data).
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(s, c)
		go pipe(c, s)
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
