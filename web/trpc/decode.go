package trpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/chobilive/chobi/jsonin"
)

// envelope is a superjson-encoded input: {"json":..., "meta":{"values":...}}.
type envelope struct {
	JSON json.RawMessage `json:"json"`
	Meta *struct {
		Values json.RawMessage `json:"values"`
	} `json:"meta"`
}

// isEnvelope reports whether raw looks like a superjson envelope: an object
// whose only keys are "json" and optionally "meta". No procedure of the API
// takes a field named "json", so a plain input is never mistaken for one.
func isEnvelope(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil {
		return false
	}
	_, hasJSON := keys["json"]
	_, hasMeta := keys["meta"]
	return hasJSON && len(keys) == 1+btoi(hasMeta)
}

// looksSuperJSON reports whether raw, possibly cut short, begins the way a
// superjson @trpc/client sends inputs: an envelope {"json":... (superjson
// always puts "json" first), or a batch of them {"0":{"json":.... It lets
// TransformerAuto answer errors found before the input could be unwrapped
// (body too large, nesting too deep) in the client's encoding.
func looksSuperJSON(raw []byte, batch bool) bool {
	next := func(token string) bool { // skips whitespace, then token
		var ok bool
		raw, ok = bytes.CutPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte(token))
		return ok
	}
	if batch {
		if !next("{") || !next(`"`) {
			return false
		}
		i := bytes.IndexByte(raw, '"') // the end of the index key
		if i < 0 {
			return false
		}
		raw = raw[i+1:]
		if !next(":") {
			return false
		}
	}
	return next("{") && next(`"json"`)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unwrapEnvelope returns the plain JSON inside a superjson envelope with its
// meta applied: values marked "undefined" are removed (so they read as absent)
// and "bigint" strings become numbers. Dates stay ISO strings, which is how
// the procedures take them. A nil result means the whole input is undefined.
func unwrapEnvelope(raw json.RawMessage) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	if env.Meta == nil || len(env.Meta.Values) == 0 {
		if string(bytes.TrimSpace(env.JSON)) == "null" {
			return nil, nil
		}
		return env.JSON, nil
	}
	// The root form: "values": ["undefined"] or ["Date"].
	var rootTypes []any
	if json.Unmarshal(env.Meta.Values, &rootTypes) == nil {
		if len(rootTypes) > 0 && rootTypes[0] == "undefined" {
			return nil, nil
		}
		return env.JSON, nil
	}
	var values map[string][]any
	if err := json.Unmarshal(env.Meta.Values, &values); err != nil {
		return nil, errors.New("input: invalid superjson meta")
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(env.JSON))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	for path, types := range values {
		if len(types) == 0 {
			continue
		}
		kind, _ := types[0].(string)
		switch kind {
		case "undefined":
			tree = removePath(tree, splitPath(path))
		case "bigint":
			tree = replacePath(tree, splitPath(path), func(v any) any {
				if s, ok := v.(string); ok {
					if _, err := strconv.ParseInt(s, 10, 64); err == nil {
						return json.Number(s)
					}
				}
				return v
			})
		}
	}
	return json.Marshal(tree)
}

// splitPath splits a superjson path on unescaped dots.
func splitPath(p string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			cur.WriteByte(p[i])
		case p[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	return append(parts, cur.String())
}

func removePath(tree any, path []string) any {
	if len(path) == 0 {
		return nil
	}
	switch node := tree.(type) {
	case map[string]any:
		if len(path) == 1 {
			delete(node, path[0])
			return node
		}
		node[path[0]] = removePath(node[path[0]], path[1:])
	case []any:
		if i, err := strconv.Atoi(path[0]); err == nil && i >= 0 && i < len(node) {
			if len(path) == 1 {
				node[i] = nil
			} else {
				node[i] = removePath(node[i], path[1:])
			}
		}
	}
	return tree
}

func replacePath(tree any, path []string, f func(any) any) any {
	if len(path) == 0 {
		return f(tree)
	}
	switch node := tree.(type) {
	case map[string]any:
		if v, ok := node[path[0]]; ok {
			node[path[0]] = replacePath(v, path[1:], f)
		}
	case []any:
		if i, err := strconv.Atoi(path[0]); err == nil && i >= 0 && i < len(node) {
			node[i] = replacePath(node[i], path[1:], f)
		}
	}
	return tree
}

// Validator is implemented by procedure inputs that check their own fields.
type Validator interface {
	Validate(f *Fields)
}

// decodeInput parses a call's plain JSON input into a new In. An undefined
// input decodes as an empty object, so inputs whose fields are all optional
// need none; required fields are the input's Validate's job.
func decodeInput[In any](raw json.RawMessage) (In, error) {
	var in In
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	// Keys must name a field exactly: unknown ones are ignored, never
	// applied, whatever their case (jsonin).
	if err := jsonin.Unmarshal(raw, &in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := typeErr.Field
			if field == "" {
				field = "input"
			}
			var f Fields
			f.Add(field, "expected "+jsonTypeName(typeErr.Type.Kind().String())+", got "+typeErr.Value)
			return in, f.Err()
		}
		return in, &Error{Code: CodeBadRequest, Message: "input: " + err.Error()}
	}
	if v, ok := any(&in).(Validator); ok {
		var f Fields
		v.Validate(&f)
		if err := f.Err(); err != nil {
			return in, err
		}
	}
	return in, nil
}

func jsonTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "integer"
	case strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "struct", kind == "map":
		return "object"
	case kind == "slice", kind == "array":
		return "array"
	case kind == "bool":
		return "boolean"
	}
	return kind
}
