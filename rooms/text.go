package rooms

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// TextProblem says what is wrong with a piece of user text, or "" if
// nothing is: its length in characters must be within [min, max] and, when
// plain is set (names, titles), it must hold no control or bidirectional
// override characters, which could reverse how the text around it renders.
// Chat messages are stored exactly as written and only have their length
// checked.
func TextProblem(s string, min, max int, plain bool) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		if min == 0 {
			return fmt.Sprintf("must be at most %d characters", max)
		}
		return fmt.Sprintf("must be between %d and %d characters", min, max)
	}
	if plain && HasUnsafeChars(s) {
		return "must not contain control or bidirectional override characters"
	}
	return ""
}

func checkText(v invalid, field, s string, min, max int, plain bool) {
	if msg := TextProblem(s, min, max, plain); msg != "" {
		v.add(field, msg)
	}
}

// HasUnsafeChars reports control characters and the Unicode bidirectional
// embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).
func HasUnsafeChars(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) {
			return true
		}
	}
	return false
}
