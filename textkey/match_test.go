package textkey

import "testing"

func TestMatcherFindsVariants(t *testing.T) {
	m := NewMatcher([]string{"كلمة", "bad word", "  ", "spam"})
	if m.Len() != 3 {
		t.Fatalf("%d words, want 3 (the blank one dropped)", m.Len())
	}
	for _, c := range []struct{ in, want string }{
		{"هذه كَلِمَة سيئة", "هذه ******* سيئة"}, // the diacritics too
		{"هذه كلمه", "هذه ****"},
		{"a BAD  WORD here", "a ***  **** here"},
		{"SPAMMER", "****MER"},
		{"nothing to see", "nothing to see"},
		{"Ｓｐａｍ", "****"},
	} {
		got, found := m.Mask(c.in)
		if got != c.want || found != (c.in != c.want) {
			t.Errorf("Mask(%q) = %q, %v; want %q", c.in, got, found, c.want)
		}
		if m.Contains(c.in) != (c.in != c.want) {
			t.Errorf("Contains(%q) = %v", c.in, m.Contains(c.in))
		}
	}
	if NewMatcher(nil).Contains("anything") {
		t.Fatal("an empty matcher matched")
	}
}
