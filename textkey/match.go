package textkey

import (
	"slices"
	"strings"
	"unicode"
)

// Matcher finds words in text as Fold compares them: "كلمة" finds
// "كَلِمَة" and "كلمه", "Bad" finds "BAD". Safe for concurrent use once
// built.
type Matcher struct {
	words []string // folded, longest first
}

// NewMatcher builds a matcher of the given words and phrases (empty ones
// are dropped).
func NewMatcher(words []string) *Matcher {
	m := &Matcher{}
	seen := map[string]bool{}
	for _, w := range words {
		if k := Fold(w); k != "" && !seen[k] {
			seen[k] = true
			m.words = append(m.words, k)
		}
	}
	// Longest first, so a phrase masks whole where a word of it would too.
	slices.SortStableFunc(m.words, func(a, b string) int { return len(b) - len(a) })
	return m
}

// Len is the number of words.
func (m *Matcher) Len() int { return len(m.words) }

// folded is text folded rune by rune, with each folded rune's place in
// the original.
type folded struct {
	runes []rune
	from  []int // folded rune i came from original rune from[i]
}

func foldWithPlaces(text string) ([]rune, folded) {
	orig := []rune(text)
	var f folded
	for i, r := range orig {
		if isTashkeel(r) || r == 'ـ' {
			continue
		}
		if unicode.IsSpace(r) {
			// Spaces collapse to one, as Fold writes them.
			if n := len(f.runes); n > 0 && f.runes[n-1] != ' ' {
				f.runes = append(f.runes, ' ')
				f.from = append(f.from, i)
			}
			continue
		}
		// Fold rune by rune (NFKC of one rune, as Fold does for the whole).
		for _, fr := range Fold(string(r)) {
			f.runes = append(f.runes, fr)
			f.from = append(f.from, i)
		}
	}
	return orig, f
}

// Contains reports whether text holds any of the words.
func (m *Matcher) Contains(text string) bool {
	if len(m.words) == 0 {
		return false
	}
	key := Fold(text)
	for _, w := range m.words {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

// Mask replaces every rune of text that is part of a found word (its
// diacritics included) with '*', and says whether it found any.
func (m *Matcher) Mask(text string) (string, bool) {
	if !m.Contains(text) {
		return text, false
	}
	orig, f := foldWithPlaces(text)
	hay := string(f.runes)
	masked := make([]bool, len(orig))
	for _, w := range m.words {
		wr := []rune(w)
		for start := 0; ; {
			i := strings.Index(hay[start:], w)
			if i < 0 {
				break
			}
			at := len([]rune(hay[:start+i]))
			first, last := f.from[at], f.from[at+len(wr)-1]
			for j := first; j <= last; j++ {
				masked[j] = true
			}
			start += i + len(w)
		}
	}
	found := false
	for i := range orig {
		if masked[i] && !unicode.IsSpace(orig[i]) {
			orig[i], found = '*', true
		}
	}
	return string(orig), found
}
