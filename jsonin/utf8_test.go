package jsonin

import (
	"errors"
	"testing"
)

// Text that is not UTF-8 (raw bytes, or an escaped half of a UTF-16
// surrogate pair) is refused wherever it is: encoding/json would store
// U+FFFD in its place.
func TestUnmarshalRefusesInvalidUTF8(t *testing.T) {
	type msg struct {
		Message string            `json:"message"`
		Tags    []string          `json:"tags"`
		Extra   map[string]string `json:"extra"`
	}
	refused := map[string]string{
		"a stray byte":               "{\"message\":\"bad \xff byte\"}",
		"a truncated sequence":       "{\"message\":\"cut \xe2\x82\"}",
		"an overlong encoding":       "{\"message\":\"\xc0\xaf\"}",
		"a surrogate in UTF-8":       "{\"message\":\"\xed\xa0\x80\"}",
		"in an array":                "{\"tags\":[\"ok\",\"\xfe\"]}",
		"in a key":                   "{\"extra\":{\"k\xff\":\"v\"}}",
		"in an unknown field":        "{\"message\":\"hi\",\"other\":\"\xff\"}",
		"a lone high surrogate":      `{"message":"\ud83d"}`,
		"a lone low surrogate":       `{"message":"\ude00 x"}`,
		"a high then not a low":      `{"message":"\ud83d\u0041"}`,
		"two highs":                  `{"message":"\ud83d\ud83d"}`,
		"a high at the string's end": `{"message":"x\uD83D"}`,
	}
	for name, raw := range refused {
		var m msg
		err := Unmarshal([]byte(raw), &m)
		if err == nil || !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("%s: %v (decoded %q), want ErrInvalidUTF8", name, err, m.Message)
		}
	}
	accepted := map[string]string{
		"plain":                `{"message":"hello"}`,
		"multi-byte":           `{"message":"مرحبا 👋"}`,
		"a pair escaped":       `{"message":"\ud83d\ude00","tags":["\uD83D\uDE00"]}`,
		"U+FFFD itself":        "{\"message\":\"\xef\xbf\xbd \\ufffd\"}",
		"escaped backslash-u":  `{"message":"\\ud83d"}`,
		"other escapes":        `{"message":"a\"b\\c\/d\n\t\u00e9"}`,
		"escaped quote before": `{"message":"\"\ud83d\ude00"}`,
	}
	for name, raw := range accepted {
		var m msg
		if err := Unmarshal([]byte(raw), &m); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := CheckUTF8([]byte("{\"a\":\"\xff\"}")); err == nil || err.Error() != "invalid UTF-8 in a string at byte 6" {
		t.Errorf("message: %v", err)
	}
}
