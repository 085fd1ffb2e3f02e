package azure

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/pwlog/pwlog/backend"
)

// opError is a failed request: permanent, or transient (wrapping
// backend.ErrTransient).
type opError struct {
	op, url   string
	desc      string // the service's code and message, or the cause's text
	cause     error
	transient bool
}

func (e *opError) Error() string {
	s := "azure: " + e.op + " " + e.url + ": " + e.desc
	if e.transient {
		s += " (transient)"
	}
	return s
}

func (e *opError) Unwrap() []error {
	if e.transient {
		return []error{e.cause, backend.ErrTransient}
	}
	return []error{e.cause}
}

// fail turns the SDK's error for an operation on name (the prefix for
// List) into the error the Backend returns: the caller's ctx error when ctx
// is done, else an *opError, transient or permanent.
func (b *Backend) fail(ctx context.Context, op, name string, err error) error {
	if ctx.Err() != nil {
		return wrap(op, name, context.Cause(ctx))
	}
	e := &opError{op: op, url: b.url(name), cause: err, transient: transient(err)}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e.desc = describe(re)
	} else {
		e.desc = err.Error()
	}
	return e
}

// transient reports whether a retry may cure err: a server error (5xx),
// throttling (429), a timeout (408, or a try that ran out of time), a
// refused, reset or dropped connection, a body cut short or corrupted.
func transient(err error) bool {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests ||
			re.StatusCode == http.StatusRequestTimeout
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || // a try's TryTimeout; the caller's ctx is not done
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errChecksum)
}

// describe is the service's error code and the first line of its message
// ("ContainerNotFound: The specified container does not exist."), or the
// HTTP status when the response has neither (a HEAD has no body).
func describe(re *azcore.ResponseError) string {
	code := re.ErrorCode
	if code == "" {
		code = fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	var msg string
	if re.RawResponse != nil {
		if body, err := runtime.Payload(re.RawResponse); err == nil && len(body) > 0 {
			var e struct {
				Message string `xml:"Message"`
			}
			if xml.Unmarshal(body, &e) == nil {
				msg, _, _ = strings.Cut(strings.TrimSpace(e.Message), "\n")
			}
		}
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
	}
	if msg == "" {
		return code
	}
	return code + ": " + msg
}

// wrap adds the operation and object name to err, as package backend
// does: "backend: get runs/1.run: ...".
func wrap(op, name string, err error) error {
	return fmt.Errorf("backend: %s %s: %w", op, name, err)
}
