package trpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ISOTime formats t as JavaScript's Date.prototype.toISOString does
// (UTC, millisecond precision, "Z"), which both plain JSON clients and
// superjson's Date revival expect.
func ISOTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// encoder writes a Go value as JSON the way encoding/json would (json tags,
// omitempty), except that time.Time becomes an ISO-8601 string and its
// superjson path is remembered, so one walk serves both transformer modes.
type encoder struct {
	buf   bytes.Buffer
	dates []string // superjson paths of Date values
	path  []string
}

var timeType = reflect.TypeFor[time.Time]()
var marshalerType = reflect.TypeFor[json.Marshaler]()

func (e *encoder) encode(v reflect.Value) error {
	if !v.IsValid() {
		e.buf.WriteString("null")
		return nil
	}
	if v.Type() == timeType {
		e.dates = append(e.dates, joinPath(e.path))
		e.writeString(ISOTime(v.Interface().(time.Time)))
		return nil
	}
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && v.Type().Implements(marshalerType) {
		b, err := v.Interface().(json.Marshaler).MarshalJSON()
		if err != nil {
			return err
		}
		e.buf.Write(b)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf.WriteString("null")
			return nil
		}
		return e.encode(v.Elem())
	case reflect.Bool:
		e.buf.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.buf.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			e.buf.WriteString("null")
			return nil
		}
		e.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case reflect.String:
		e.writeString(v.String())
	case reflect.Slice:
		if v.IsNil() {
			// An empty list, not null: clients iterate over lists.
			e.buf.WriteString("[]")
			return nil
		}
		fallthrough
	case reflect.Array:
		e.buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.path = append(e.path, strconv.Itoa(i))
			err := e.encode(v.Index(i))
			e.path = e.path[:len(e.path)-1]
			if err != nil {
				return err
			}
		}
		e.buf.WriteByte(']')
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("trpc: unsupported map key type %s", v.Type().Key())
		}
		if v.IsNil() {
			e.buf.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		e.buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.writeString(k)
			e.buf.WriteByte(':')
			e.path = append(e.path, k)
			err := e.encode(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())))
			e.path = e.path[:len(e.path)-1]
			if err != nil {
				return err
			}
		}
		e.buf.WriteByte('}')
	case reflect.Struct:
		e.buf.WriteByte('{')
		first := true
		for _, f := range structFields(v.Type()) {
			fv := v.Field(f.index)
			if f.omitEmpty && isEmptyValue(fv) {
				continue
			}
			if !first {
				e.buf.WriteByte(',')
			}
			first = false
			e.writeString(f.name)
			e.buf.WriteByte(':')
			e.path = append(e.path, f.name)
			err := e.encode(fv)
			e.path = e.path[:len(e.path)-1]
			if err != nil {
				return err
			}
		}
		e.buf.WriteByte('}')
	default:
		return fmt.Errorf("trpc: unsupported output type %s", v.Type())
	}
	return nil
}

func (e *encoder) writeString(s string) {
	b, _ := json.Marshal(s) // strings always marshal
	e.buf.Write(b)
}

type fieldInfo struct {
	index     int
	name      string
	omitEmpty bool
}

var fieldCache sync.Map // reflect.Type -> []fieldInfo

// structFields lists the exported fields of t with their JSON names.
// Embedded structs are not flattened: output types do not use them.
func structFields(t reflect.Type) []fieldInfo {
	if cached, ok := fieldCache.Load(t); ok {
		return cached.([]fieldInfo)
	}
	var fields []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, fieldInfo{index: i, name: name, omitEmpty: strings.Contains(opts, "omitempty")})
	}
	fieldCache.Store(t, fields)
	return fields
}

// joinPath builds a superjson path: keys joined by ".", with "." and "\"
// inside a key escaped by a backslash.
func joinPath(parts []string) string {
	escaped := make([]string, len(parts))
	for i, p := range parts {
		p = strings.ReplaceAll(p, `\`, `\\`)
		escaped[i] = strings.ReplaceAll(p, ".", `\.`)
	}
	return strings.Join(escaped, ".")
}

// encodeData renders a procedure's output for the client's transformer.
// With superjson the value is wrapped as {"json":...,"meta":{...}}.
func encodeData(v any, superjson bool) (json.RawMessage, error) {
	if _, void := v.(Void); void {
		if superjson {
			return json.RawMessage(`{"json":null,"meta":{"values":["undefined"],"v":1}}`), nil
		}
		return nil, nil
	}
	var e encoder
	if err := e.encode(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	if !superjson {
		return e.buf.Bytes(), nil
	}
	var out bytes.Buffer
	out.WriteString(`{"json":`)
	out.Write(e.buf.Bytes())
	if len(e.dates) > 0 {
		out.WriteString(`,"meta":{"values":`)
		if len(e.dates) == 1 && e.dates[0] == "" {
			out.WriteString(`["Date"]`) // a bare Date at the root
		} else {
			values := make(map[string][]string, len(e.dates))
			for _, p := range e.dates {
				values[p] = []string{"Date"}
			}
			b, err := json.Marshal(values)
			if err != nil {
				return nil, err
			}
			out.Write(b)
		}
		out.WriteString(`,"v":1}`)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// Void is the output of a procedure that returns nothing (undefined in
// TypeScript): {"result":{}} in plain mode, superjson's undefined otherwise.
type Void struct{}

func reflectValue(v any) reflect.Value { return reflect.ValueOf(v) }

// isEmptyValue is encoding/json's omitempty rule: false, 0, "", nil, and
// empty slices, maps and arrays are omitted; structs never are.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
