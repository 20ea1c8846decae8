package rooms

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// checkText validates user text: its length in characters, and, when
// plain is set, no control or bidirectional-override characters (which can
// reverse how the text around a name renders). Chat messages are stored
// exactly as written and only have their length checked.
func checkText(v invalid, field, s string, min, max int, plain bool) {
	if !utf8.ValidString(s) {
		v.add(field, "must be valid UTF-8")
		return
	}
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		if min == 0 {
			v.add(field, fmt.Sprintf("must be at most %d characters", max))
		} else {
			v.add(field, fmt.Sprintf("must be between %d and %d characters", min, max))
		}
		return
	}
	if plain && HasUnsafeChars(s) {
		v.add(field, "must not contain control or bidirectional override characters")
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
