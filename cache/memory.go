package cache

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in this process, for a single node. It holds at most
// MaxEntries values (then starts again empty: values are cheap to load).
type Memory struct {
	mu     sync.Mutex
	gens   map[string]uint64
	values map[string]entry
	max    int
}

type entry struct {
	gen     uint64
	value   []byte
	expires time.Time
}

// MaxEntries bounds a Memory's values by default.
const MaxEntries = 100_000

// NewMemory makes an empty one holding at most max values (0: MaxEntries).
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = MaxEntries
	}
	return &Memory{gens: map[string]uint64{}, values: map[string]entry{}, max: max}
}

var _ Store = (*Memory)(nil)

// Get implements Store.
func (m *Memory) Get(_ context.Context, group, key string) ([]byte, uint64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gen := m.gens[group]
	e, ok := m.values[group+"\x00"+key]
	if !ok || e.gen != gen || time.Now().After(e.expires) {
		return nil, gen, false, nil
	}
	return e.value, gen, true, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, group, key string, gen uint64, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gens[group] {
		return nil // already dead
	}
	if len(m.values) >= m.max {
		m.values = map[string]entry{}
	}
	m.values[group+"\x00"+key] = entry{gen: gen, value: value, expires: time.Now().Add(ttl)}
	return nil
}

// Bump implements Store. A group's dead values go at their key's next Set
// or when the maps start again.
func (m *Memory) Bump(_ context.Context, groups ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.gens) >= 4*m.max {
		// Forgetting the generations is safe only with every value gone:
		// none can then match a generation that starts again at 0.
		m.gens, m.values = map[string]uint64{}, map[string]entry{}
	}
	for _, g := range groups {
		m.gens[g]++
	}
	return nil
}
