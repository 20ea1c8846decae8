package textkey

import "testing"

func TestFoldMakesVariantsOneKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"أحمد", "احمد"},
		{"إيمان", "ايمان"},
		{"آمنة", "امنه"},
		{"مُحَمَّد", "محمد"},
		{"مصطفى", "مصطفي"},
		{"فاطمة", "فاطمه"},
		{"عـــلي", "علي"},
		{"Layla", "LAYLA"},
		{"Ｌａｙｌａ", "layla"},
		{"  Omar   Ali ", "omar ali"},
		{"ﻻ", "لا"},
		{"Élise", "ÉLISE"},
	} {
		if fa, fb := Fold(c.a), Fold(c.b); fa != fb {
			t.Errorf("Fold(%q) = %q, Fold(%q) = %q: want one key", c.a, fa, c.b, fb)
		}
	}
	for _, c := range []struct{ a, b string }{
		{"علي", "عل"}, // a prefix is not the word
		{"Omar", "Amor"},
		{"سعد", "سعيد"},
	} {
		if Fold(c.a) == Fold(c.b) {
			t.Errorf("Fold(%q) == Fold(%q)", c.a, c.b)
		}
	}
}

func TestFoldKeepsPrefixes(t *testing.T) {
	for _, name := range []string{"فَاطِمَة الزَّهْرَاء", "Ahmed Said", "أَحْمَد"} {
		key := Fold(name)
		runes := []rune(name)
		for i := 1; i <= len(runes); i++ {
			p := Fold(string(runes[:i]))
			if len(p) > len(key) || key[:len(p)] != p {
				t.Fatalf("Fold(%q) = %q is not a prefix of Fold(%q) = %q", string(runes[:i]), p, name, key)
			}
		}
	}
}
