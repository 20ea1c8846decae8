// Package jsonin decodes untrusted JSON input as PROTOCOL.md §3 asks of
// every tRPC input and socket message: nesting at most MaxDepth deep,
// unknown fields ignored, never applied, and text that is UTF-8.
// encoding/json alone falls short of the last two: it matches object keys
// to struct fields ignoring case, so {"DISPLAYNAME":"x"} would set
// DisplayName, where the app's old zod schemas drop the key, and it turns
// bytes that are not UTF-8 into U+FFFD. Unmarshal keeps only the keys that
// name a field exactly, at every level, and refuses such text, before
// decoding.
package jsonin

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// MaxDepth is the deepest JSON nesting accepted in an input.
const MaxDepth = 32

// CheckDepth reports whether raw nests arrays and objects deeper than max.
// It scans bytes only (strings skipped), so it costs no allocation.
func CheckDepth(raw []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return fmt.Errorf("input: nested deeper than %d levels", max)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// Unmarshal is json.Unmarshal with object keys matched to struct fields
// exactly: a key that is not a field's JSON name, letter for letter, is
// dropped; text that is not UTF-8 is refused (CheckUTF8). Errors are json.Unmarshal's own (the same field paths). It
// costs a parse and a re-encoding of every object on the way to a struct
// (about 3× encoding/json for a flat 1 MiB input, more for long arrays of
// objects): inputs are small and bounded (1 MiB, 64 KiB frames).
func Unmarshal(raw []byte, v any) error {
	if err := CheckUTF8(raw); err != nil {
		return err
	}
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer && needsFilter(t.Elem()) {
		if kept, ok := exact(raw, t.Elem()); ok {
			raw = kept
		}
	}
	return json.Unmarshal(raw, v)
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports whether values of t decode themselves.
func custom(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// exact rewrites raw for type t keeping only exactly named keys; false
// when raw does not have the shape t expects (json.Unmarshal then reports
// the error on the original).
func exact(raw []byte, t reflect.Type) ([]byte, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !needsFilter(t) {
		return raw, true
	}
	trimmed := strings.TrimSpace(string(raw))
	if trimmed == "null" {
		return raw, true
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil, false
		}
		fields := fieldsOf(t)
		kept := make(map[string]json.RawMessage, len(obj))
		for k, val := range obj {
			ft, ok := fields[k]
			if !ok {
				continue // unknown, or known only in another case: ignored
			}
			if val, ok = exact(val, ft); !ok {
				return nil, false
			}
			kept[k] = val
		}
		out, err := json.Marshal(kept)
		return out, err == nil
	case reflect.Slice, reflect.Array:
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			return nil, false
		}
		for i, el := range arr {
			var ok bool
			if arr[i], ok = exact(el, t.Elem()); !ok {
				return nil, false
			}
		}
		out, err := json.Marshal(arr)
		return out, err == nil
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil, false
		}
		for k, el := range obj {
			var ok bool
			if obj[k], ok = exact(el, t.Elem()); !ok {
				return nil, false
			}
		}
		out, err := json.Marshal(obj)
		return out, err == nil
	}
	return raw, true
}

var (
	fieldCache  sync.Map // reflect.Type → map[string]reflect.Type
	filterCache sync.Map // reflect.Type → bool
)

// needsFilter reports whether t holds a struct (decoded field by field)
// anywhere inside: only then can a key be matched in the wrong case. Only
// final answers go into the shared cache (a placeholder there would let a
// concurrent caller skip the filter).
func needsFilter(t reflect.Type) bool {
	if v, ok := filterCache.Load(t); ok {
		return v.(bool)
	}
	need := needsFilterOf(t, map[reflect.Type]bool{})
	filterCache.Store(t, need)
	return need
}

// needsFilterOf works needsFilter out; visiting guards self-referential
// types (type L []L), which hold no struct unless a struct is met.
func needsFilterOf(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if v, ok := filterCache.Load(t); ok {
		return v.(bool)
	}
	if visiting[t] {
		return false
	}
	visiting[t] = true
	switch {
	case custom(t):
		return false
	case t.Kind() == reflect.Struct:
		return true
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map:
		return needsFilterOf(t.Elem(), visiting)
	}
	return false
}

// fieldsOf maps each JSON key a struct decodes to the field's type,
// following encoding/json's rules: the tag's name or the field's, "-"
// skipped, unexported fields skipped, untagged embedded structs promoted.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if v, ok := fieldCache.Load(t); ok {
		return v.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	collectFields(t, out, map[reflect.Type]bool{})
	fieldCache.Store(t, out)
	return out
}

func collectFields(t reflect.Type, out map[string]reflect.Type, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	var promoted []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			promoted = append(promoted, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	// A field of the outer struct wins over a promoted one of the same name.
	for _, pt := range promoted {
		inner := map[string]reflect.Type{}
		collectFields(pt, inner, seen)
		for k, v := range inner {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
}
