package trpc

import (
	"errors"
	"fmt"

	"github.com/chobilive/chobi/validation"
)

// Code is a tRPC error code key, as apps read it from err.data.code.
type Code string

// The codes this server sends, with their JSON-RPC numbers and HTTP statuses
// as @trpc/server v11 defines them (../shared/fixtures/trpc/README.md).
const (
	CodeParseError           Code = "PARSE_ERROR"
	CodeBadRequest           Code = "BAD_REQUEST"
	CodeUnauthorized         Code = "UNAUTHORIZED"
	CodeForbidden            Code = "FORBIDDEN"
	CodeNotFound             Code = "NOT_FOUND"
	CodeMethodNotSupported   Code = "METHOD_NOT_SUPPORTED"
	CodeTimeout              Code = "TIMEOUT"
	CodeConflict             Code = "CONFLICT"
	CodePreconditionFailed   Code = "PRECONDITION_FAILED"
	CodePayloadTooLarge      Code = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnprocessableContent Code = "UNPROCESSABLE_CONTENT"
	CodeTooManyRequests      Code = "TOO_MANY_REQUESTS"
	CodeInternal             Code = "INTERNAL_SERVER_ERROR"
	CodeNotImplemented       Code = "NOT_IMPLEMENTED"
	CodeServiceUnavailable   Code = "SERVICE_UNAVAILABLE"
	CodeClientClosedRequest  Code = "CLIENT_CLOSED_REQUEST"
)

type codeInfo struct {
	rpc    int
	status int
}

var codes = map[Code]codeInfo{
	CodeParseError:           {-32700, 400},
	CodeBadRequest:           {-32600, 400},
	CodeUnauthorized:         {-32001, 401},
	CodeForbidden:            {-32003, 403},
	CodeNotFound:             {-32004, 404},
	CodeMethodNotSupported:   {-32005, 405},
	CodeTimeout:              {-32008, 408},
	CodeConflict:             {-32009, 409},
	CodePreconditionFailed:   {-32012, 412},
	CodePayloadTooLarge:      {-32013, 413},
	CodeUnsupportedMediaType: {-32015, 415},
	CodeUnprocessableContent: {-32022, 422},
	CodeTooManyRequests:      {-32029, 429},
	CodeInternal:             {-32603, 500},
	CodeNotImplemented:       {-32603, 501},
	CodeServiceUnavailable:   {-32603, 503},
	CodeClientClosedRequest:  {-32099, 499},
}

// HTTPStatus is the status @trpc/server sends for the code.
func (c Code) HTTPStatus() int {
	if info, ok := codes[c]; ok {
		return info.status
	}
	return 500
}

// RPCCode is the JSON-RPC number sent as error.code.
func (c Code) RPCCode() int {
	if info, ok := codes[c]; ok {
		return info.rpc
	}
	return -32603
}

// Error is what a procedure returns to send a specific tRPC error. Any other
// error is logged and sent as INTERNAL_SERVER_ERROR without its text.
type Error struct {
	Code        Code
	Message     string
	FieldErrors map[string][]string
	// Header, when set, is added to the HTTP response of a single call
	// (Retry-After on TOO_MANY_REQUESTS, Allow on METHOD_NOT_SUPPORTED).
	Header map[string]string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorer is implemented by validation errors of any layer (this
// package's Fields, the domain packages' own validation errors): the router
// sends them as BAD_REQUEST with data.fieldErrors.
type FieldErrorer interface {
	error
	FieldErrors() map[string][]string
}

// Fields collects validation failures per input field.
type Fields struct {
	errs map[string][]string
}

// Add records that field is wrong for the reason msg.
func (f *Fields) Add(field, msg string) {
	if f.errs == nil {
		f.errs = map[string][]string{}
	}
	f.errs[field] = append(f.errs[field], msg)
}

// Err is nil when nothing was added, else a BAD_REQUEST *Error whose message
// names every field ("limit: must be between 1 and 100").
func (f *Fields) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return FieldError(f.errs)
}

// FieldError builds the BAD_REQUEST error for a set of field failures.
func FieldError(fields map[string][]string) *Error {
	msg := (&validation.Error{Fields: fields}).Error()
	return &Error{Code: CodeBadRequest, Message: msg, FieldErrors: fields}
}

// asError turns any error into the *Error sent to the client; internal
// reports whether it was not a deliberate client error (so it must be logged).
func asError(err error) (e *Error, internal bool) {
	var te *Error
	if errors.As(err, &te) {
		return te, te.Code == CodeInternal
	}
	var fe FieldErrorer
	if errors.As(err, &fe) {
		return FieldError(fe.FieldErrors()), false
	}
	return &Error{Code: CodeInternal, Message: "Internal server error"}, true
}
