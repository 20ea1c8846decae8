// Package tsgen writes TypeScript declarations of Go types as
// encoding/json puts them on the wire: the client kit's types (clients/ts)
// of the tRPC API and of the socket protocol are generated from the very
// types the server decodes and encodes, so they cannot drift apart.
//
// A struct field may refine its TypeScript type with a `ts` tag:
//
//	ts:"optional"        an input the server defaults when absent
//	ts:"required"        a pointer input the server refuses when absent
//	ts:"enum=low|high"   a string (or []string) that takes only these values
//
// and a type may name its own with a method TSType() string.
package tsgen

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Mode says which side of the wire a type is read from, which decides
// what "optional" means.
type Mode int

const (
	// Output: encoded by the server with encoding/json. An omitempty field
	// may be absent; a pointer without omitempty is null when nil.
	Output Mode = iota
	// Input: decoded by the server, where an absent field reads as its zero
	// value. A pointer field (the server tells absent from zero) or one
	// tagged ts:"optional" may be left out; every other field is required.
	Input
)

// Writer renders Go types as TypeScript, collecting a named interface for
// every named struct reached in Output mode; Input structs are written
// inline, since a struct read as an input has other optional fields.
type Writer struct {
	// Date is the TypeScript type of a time.Time: "Date" under superjson,
	// "string" (ISO-8601) in plain JSON.
	Date string
	// Rename maps a Go type name to the interface name to use instead (for
	// names that would shadow a global, such as Error).
	Rename map[string]string

	depth int // of the object literal being rendered, for indenting
	names map[reflect.Type]string
	taken map[string]reflect.Type
	decls map[string]string
	order []string
}

// NewWriter makes a Writer writing time.Time as date.
func NewWriter(date string) *Writer {
	return &Writer{Date: date, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}, decls: map[string]string{}}
}

// Declarations renders every named interface collected so far, in the
// order they were first reached.
func (w *Writer) Declarations() string {
	var b strings.Builder
	for _, name := range w.order {
		b.WriteString(w.decls[name])
		b.WriteString("\n")
	}
	return b.String()
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	durationType      = reflect.TypeFor[time.Duration]()
	rawType           = reflect.TypeFor[json.RawMessage]()
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	unmarshalerType   = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	tsTyperType       = reflect.TypeFor[interface{ TSType() string }]()
)

// Type renders t as mode reads it.
func (w *Writer) Type(t reflect.Type, mode Mode) string {
	if t.Implements(tsTyperType) {
		return reflect.Zero(t).Interface().(interface{ TSType() string }).TSType()
	}
	switch t {
	case timeType:
		return w.Date
	case durationType:
		return "number"
	case rawType:
		return "unknown"
	}
	if t.Kind() != reflect.Pointer && (t.Implements(marshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		return "unknown" // its own encoding: give it a TSType method to say more
	}
	if t.Kind() != reflect.Pointer && t.Implements(textMarshalerType) {
		return "string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Pointer:
		elem := w.Type(t.Elem(), mode)
		if mode == Output {
			return elem + " | null"
		}
		return elem
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return "string" // base64
		}
		return arrayOf(w.Type(t.Elem(), mode))
	case reflect.Map:
		return "Record<string, " + w.Type(t.Elem(), mode) + ">"
	case reflect.Interface:
		return "unknown"
	case reflect.Struct:
		if mode == Input || t.Name() == "" || strings.Contains(t.Name(), "[") {
			return w.inline(t, mode, "")
		}
		return w.named(t)
	}
	panic(fmt.Sprintf("tsgen: no TypeScript type for %v", t)) // chan, func: never on the wire
}

func arrayOf(elem string) string {
	if strings.ContainsAny(elem, "|&") {
		return "(" + elem + ")[]"
	}
	return elem + "[]"
}

// named declares t's interface once and returns its name.
func (w *Writer) named(t reflect.Type) string {
	if name, ok := w.names[t]; ok {
		return name
	}
	name := w.nameFor(t)
	w.names[t] = name
	w.taken[name] = t
	w.order = append(w.order, name)
	w.decls[name] = "" // reserved while its fields are rendered (recursive types)
	w.decls[name] = w.declare(name, t, "")
	return name
}

// declare renders t's interface at the top level.
func (w *Writer) declare(name string, t reflect.Type, extra string) string {
	depth := w.depth
	w.depth = 0
	defer func() { w.depth = depth }()
	return "export interface " + name + " " + w.inline(t, Output, extra) + "\n"
}

// declareWith declares a named interface for struct t whose first field
// is extra (such as a message's literal "type"), and returns its name.
func (w *Writer) declareWith(t reflect.Type, extra string) string {
	name := w.nameFor(t)
	if _, ok := w.names[t]; !ok { // else reached as a field already: redeclared in place
		w.order = append(w.order, name)
	}
	w.names[t] = name
	w.taken[name] = t
	w.decls[name] = ""
	w.decls[name] = w.declare(name, t, extra)
	return name
}

// nameFor is t's Go name, exported, without an "Output" suffix, prefixed
// with its package's name if another type has it already.
func (w *Writer) nameFor(t reflect.Type) string {
	base := t.Name()
	if r, ok := w.Rename[base]; ok {
		base = r
	}
	base = strings.TrimSuffix(base, "Output")
	name := upperFirst(base)
	if other, ok := w.taken[name]; ok && other != t {
		pkg := t.PkgPath()
		name = upperFirst(pkg[strings.LastIndex(pkg, "/")+1:]) + name
	}
	for i := 2; w.taken[name] != nil && w.taken[name] != t; i++ {
		name = fmt.Sprintf("%s%d", upperFirst(base), i)
	}
	return name
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Field is one JSON field of a struct.
type Field struct {
	Name     string // as on the wire
	Type     string // TypeScript
	Optional bool
}

// Fields lists the JSON fields of struct t as mode reads them, embedded
// structs' fields in place as encoding/json flattens them.
func (w *Writer) Fields(t reflect.Type, mode Mode) []Field {
	var out []Field
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, hasTag := f.Tag.Lookup("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" && opts == "" {
				continue
			}
			if f.Anonymous && !hasTag {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if seen[name] {
				continue // the shallower field wins, as in encoding/json
			}
			seen[name] = true
			out = append(out, w.field(f, name, opts, mode))
		}
	}
	walk(t)
	return out
}

func (w *Writer) field(f reflect.StructField, name, jsonOpts string, mode Mode) Field {
	omitempty := hasOpt(jsonOpts, "omitempty") || hasOpt(jsonOpts, "omitzero")
	var optional, required bool
	var enum []string
	for _, o := range strings.Split(f.Tag.Get("ts"), ",") {
		switch {
		case o == "optional":
			optional = true
		case o == "required":
			required = true
		case strings.HasPrefix(o, "enum="):
			enum = strings.Split(strings.TrimPrefix(o, "enum="), "|")
		case o != "":
			panic(fmt.Sprintf("tsgen: unknown ts tag option %q on %s", o, f.Name))
		}
	}
	ft := f.Type
	out := Field{Name: name}
	switch mode {
	case Input:
		out.Optional = !required && (optional || ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map)
	default:
		out.Optional = omitempty || optional
		if omitempty && ft.Kind() == reflect.Pointer {
			ft = ft.Elem() // absent when nil, never null
		}
	}
	switch {
	case hasOpt(jsonOpts, "string"):
		out.Type = "string"
	case enum != nil:
		out.Type = enumType(ft, enum, mode)
	default:
		out.Type = w.Type(ft, mode)
	}
	return out
}

func enumType(t reflect.Type, values []string, mode Mode) string {
	lit := make([]string, len(values))
	for i, v := range values {
		lit[i] = fmt.Sprintf("%q", v)
	}
	union := strings.Join(lit, " | ")
	switch t.Kind() {
	case reflect.String:
		return union
	case reflect.Pointer:
		if mode == Output {
			return enumType(t.Elem(), values, mode) + " | null"
		}
		return enumType(t.Elem(), values, mode)
	case reflect.Slice, reflect.Array:
		return arrayOf(enumType(t.Elem(), values, mode))
	}
	panic(fmt.Sprintf("tsgen: ts enum on a %v", t))
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// inline renders struct t as an object type literal, one field a line,
// extra first.
func (w *Writer) inline(t reflect.Type, mode Mode, extra string) string {
	w.depth++
	defer func() { w.depth-- }()
	fields := w.Fields(t, mode)
	if len(fields) == 0 && extra == "" {
		return "{}"
	}
	pad := strings.Repeat("  ", w.depth)
	var b strings.Builder
	b.WriteString("{\n")
	if extra != "" {
		b.WriteString(pad + extra + ";\n")
	}
	for _, f := range fields {
		b.WriteString(pad + propName(f.Name))
		if f.Optional {
			b.WriteString("?")
		}
		b.WriteString(": " + f.Type + ";\n")
	}
	b.WriteString(pad[2:] + "}")
	return b.String()
}

// propName quotes a property name that is not an identifier.
func propName(s string) string {
	for i, r := range s {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Sprintf("%q", s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
