package jsonin

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalidUTF8 is wrapped by CheckUTF8's errors.
var ErrInvalidUTF8 = errors.New("invalid UTF-8")

type utf8Error struct {
	at        int
	surrogate string // the escape, for half of a UTF-16 pair
}

func (e utf8Error) Error() string {
	if e.surrogate != "" {
		return fmt.Sprintf("a lone UTF-16 surrogate (%s) at byte %d", e.surrogate, e.at)
	}
	return fmt.Sprintf("invalid UTF-8 in a string at byte %d", e.at)
}

func (e utf8Error) Unwrap() error { return ErrInvalidUTF8 }

// CheckUTF8 reports text in raw, a JSON document, that is not UTF-8: bytes
// that are not (RFC 8259 §8.1), or a \u escape of half a UTF-16 surrogate
// pair without its other half. encoding/json replaces either with U+FFFD
// while decoding, so a message would be stored other than it was sent.
func CheckUTF8(raw []byte) error {
	i, inString := 0, false
	for i < len(raw) {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return utf8Error{at: i}
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(raw):
			if raw[i+1] != 'u' {
				i += 2 // \" \\ \n ...: one escaped byte
				continue
			}
			r, ok := hex4(raw[i+2:])
			if !ok {
				return nil // not JSON: the decoder says why
			}
			if !utf16.IsSurrogate(r) {
				i += 6
				continue
			}
			if r < 0xdc00 && len(raw) >= i+12 && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if low, ok := hex4(raw[i+8:]); ok && low >= 0xdc00 && low <= 0xdfff {
					i += 12
					continue
				}
			}
			return utf8Error{at: i, surrogate: string(raw[i : i+6])}
		}
		i++
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
