package trpc

import (
	"context"
	"reflect"
	"testing"
)

type echoIn struct {
	Text string `json:"text"`
}

type echoOut struct {
	Echo string `json:"echo"`
}

// Procedures gives what the client kit's generator reads: every path,
// sorted, with its kind and its handler's Go types.
func TestProceduresDescribeTheRegistry(t *testing.T) {
	r := NewRouter(Options{})
	Mutation(r, "b.put", func(context.Context, echoIn) (echoOut, error) { return echoOut{}, nil })
	Query(r, "a.get", func(context.Context, struct{}) ([]echoOut, error) { return nil, nil }, Public())
	got := r.Procedures()
	want := []ProcedureInfo{
		{Path: "a.get", Kind: "query", Public: true, Input: reflect.TypeFor[struct{}](), Output: reflect.TypeFor[[]echoOut]()},
		{Path: "b.put", Kind: "mutation", Input: reflect.TypeFor[echoIn](), Output: reflect.TypeFor[echoOut]()},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
