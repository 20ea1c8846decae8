// Package textkey folds names into search keys: two spellings a reader takes
// for the same word give the same key. Latin letters fold by case (and
// width); Arabic drops its diacritics (tashkeel) and tatweel, and writes
// each of the letters people use interchangeably one way: the alef forms
// (أ إ آ ٱ) as ا, alef maqsura (ى) and Persian yeh (ی) as ي, taa marbuta
// (ة) as ه, Persian kaf (ک) as ك. Imports nothing of ours.
package textkey

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Fold returns s's search key: folded as the package says, spaces
// collapsed to one, trimmed. A prefix of a name folds to a prefix of the
// name's key, so prefix search on keys finds it.
func Fold(s string) string {
	// NFKC first: it unpacks presentation forms (ﻻ, full-width letters)
	// into the letters they show.
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case isTashkeel(r), r == 'ـ': // diacritics, tatweel
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// isTashkeel reports the Arabic marks written above and below letters.
func isTashkeel(r rune) bool {
	return r >= 0x064B && r <= 0x065F || r == 0x0670 || r >= 0x06D6 && r <= 0x06ED
}

func foldRune(r rune) rune {
	switch r {
	case 'أ', 'إ', 'آ', 'ٱ':
		return 'ا'
	case 'ى', 'ی':
		return 'ي'
	case 'ة':
		return 'ه'
	case 'ک':
		return 'ك'
	}
	return unicode.ToLower(unicode.SimpleFold(unicode.ToUpper(r)))
}
