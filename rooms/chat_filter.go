package rooms

import (
	"context"
	"sync"
	"time"

	"github.com/chobilive/chobi/textkey"
)

// The operator's chat filter (store table chat_filter, `chobi admin
// filter`): a message holding a "refuse" word is refused, "mask" words are
// replaced with asterisks. Each node reads the list again when it is older
// than filterTTL, so a change reaches every node within that.

// Filter actions.
const (
	FilterMask   = "mask"
	FilterRefuse = "refuse"
)

// FilterWord is one word or phrase of the chat filter.
type FilterWord struct {
	Word   string
	Action string // FilterMask or FilterRefuse
}

const filterTTL = 10 * time.Second

type chatFilter struct {
	mu     sync.Mutex
	loaded time.Time
	mask   *textkey.Matcher
	refuse *textkey.Matcher
}

// matchers returns the current matchers, reading the list again when it
// is stale; a failed read keeps the last list (and is logged).
func (s *Service) matchers(ctx context.Context) (mask, refuse *textkey.Matcher) {
	f := &s.filter
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mask == nil || time.Since(f.loaded) > filterTTL {
		words, err := s.store.FilterWords(ctx)
		if err != nil && f.mask != nil {
			s.log.WarnContext(ctx, "reading the chat filter failed: keeping the last list", "err", err)
			f.loaded = time.Now()
			return f.mask, f.refuse
		}
		var m, r []string
		for _, w := range words {
			if w.Action == FilterRefuse {
				r = append(r, w.Word)
			} else {
				m = append(m, w.Word)
			}
		}
		f.mask, f.refuse, f.loaded = textkey.NewMatcher(m), textkey.NewMatcher(r), time.Now()
	}
	return f.mask, f.refuse
}
