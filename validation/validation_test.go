package validation_test

import (
	"errors"
	"testing"

	"github.com/chobilive/chobi/validation"
)

func TestTextProblem(t *testing.T) {
	for _, c := range []struct {
		s        string
		min, max int
		plain    bool
		want     string
	}{
		{"سلام", 1, 4, true, ""},
		{"", 1, 50, true, "must be between 1 and 50 characters"},
		{"toolong", 0, 3, false, "must be at most 3 characters"},
		{"a\u202Eb", 1, 50, true, "must not contain control or bidirectional override characters"},
		{"a\u202Eb", 1, 50, false, ""}, // chat keeps what was written
		{"tab\there", 1, 50, true, "must not contain control or bidirectional override characters"},
		{"\xff", 0, 50, false, "must be valid UTF-8"},
	} {
		if got := validation.TextProblem(c.s, c.min, c.max, c.plain); got != c.want {
			t.Errorf("TextProblem(%q, %d, %d, %v) = %q, want %q", c.s, c.min, c.max, c.plain, got, c.want)
		}
	}
}

func TestFieldsCollectAndMatchTheirCauses(t *testing.T) {
	var f validation.Fields
	if f.Err() != nil {
		t.Fatal("an empty collector is an error")
	}
	sentinel := errors.New("not on stage")
	f.Text("title", "", 1, 100, true)
	f.AddCause("recipientId", "is not on stage", sentinel)
	f.Add("title", "is taken")
	err := f.Err()
	var ve *validation.Error
	if !errors.As(err, &ve) || !errors.Is(err, sentinel) {
		t.Fatalf("%v: not a *validation.Error matching its cause", err)
	}
	if want := "recipientId: is not on stage; title: must be between 1 and 100 characters; title: is taken"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	if got := ve.FieldErrors()["title"]; len(got) != 2 {
		t.Fatalf("title's failures: %v", got)
	}
}
