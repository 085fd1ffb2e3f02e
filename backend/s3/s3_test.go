//go:build linux

package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/backendtest"
	"github.com/pwlog/pwlog/backend/s3"
	"github.com/pwlog/pwlog/internal/testserver"
)

// options returns the Options of the test server.
func options(srv *testserver.S3) s3.Options {
	return s3.Options{Endpoint: srv.Endpoint, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

// newBackend returns a Backend on a new bucket of the test server.
func newBackend(t *testing.T, prefix string) backend.Backend {
	srv := testserver.Versitygw(t)
	b, err := s3.New(srv.NewBucket(t), prefix, options(srv))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Run("NoPrefix", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, "") })
	})
	t.Run("Prefix", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, "stores/one") })
	})
}

// TestServerHonoursIfNoneMatch checks, below the Backend, that the server
// refuses a PutObject with If-None-Match: * of an existing key with 412
// PreconditionFailed and keeps the first object: without it Create would
// be a plain Put.
func TestServerHonoursIfNoneMatch(t *testing.T) {
	srv := testserver.Versitygw(t)
	bucket := srv.NewBucket(t)
	c, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region:       srv.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(data string) error {
		var opts minio.PutObjectOptions
		opts.SetMatchETagExcept("*")
		_, err := c.PutObject(ctx, bucket, "k", strings.NewReader(data), int64(len(data)), opts)
		return err
	}
	if err := put("first"); err != nil {
		t.Fatal(err)
	}
	err = put("second")
	if resp := minio.ToErrorResponse(err); resp.StatusCode != 412 || resp.Code != "PreconditionFailed" {
		t.Fatalf("second conditional PutObject: %v (status %d, code %q); want 412 PreconditionFailed",
			err, resp.StatusCode, resp.Code)
	}
	o, err := c.GetObject(ctx, bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(o); err != nil {
		t.Fatal(err)
	}
	if got.String() != "first" {
		t.Fatalf("object holds %q after a refused create, want %q", got.String(), "first")
	}
}

func TestPrefixesAreApart(t *testing.T) {
	srv := testserver.Versitygw(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	var bs []backend.Backend
	for _, prefix := range []string{"", "a", "a/b", "ab"} {
		b, err := s3.New(bucket, prefix, options(srv))
		if err != nil {
			t.Fatal(err)
		}
		backendtest.MustPut(t, b, "x", []byte(prefix))
		bs = append(bs, b)
	}
	// The root sees every object; a prefixed Backend only its own.
	backendtest.MustListEqual(t, bs[0], "", []string{"a/b/x", "a/x", "ab/x", "x"})
	backendtest.MustListEqual(t, bs[1], "", []string{"b/x", "x"})
	backendtest.MustListEqual(t, bs[2], "", []string{"x"})
	backendtest.MustListEqual(t, bs[3], "", []string{"x"})
	backendtest.MustGetEqual(t, bs[3], "x", []byte("ab"))
	if err := bs[1].Delete(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	backendtest.MustGetEqual(t, bs[0], "x", []byte(""))
	backendtest.MustGetEqual(t, bs[2], "x", []byte("a/b"))
}

// ops runs every operation of b on name, all at once, and returns their
// errors.
func ops(b backend.Backend, name string) map[string]error {
	ctx := context.Background()
	fns := map[string]func() error{
		"put":    func() error { return b.Put(ctx, name, []byte("x")) },
		"create": func() error { return b.Create(ctx, name, []byte("x")) },
		"delete": func() error { return b.Delete(ctx, name) },
		"get":    func() error { _, err := b.Get(ctx, name); return err },
		"open":   func() error { _, err := b.Open(ctx, name); return err },
		"size":   func() error { _, err := b.Size(ctx, name); return err },
		"list":   func() error { _, err := b.List(ctx, name); return err },
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for op, fn := range fns {
		wg.Go(func() {
			err := fn()
			mu.Lock()
			defer mu.Unlock()
			errs[op] = err
		})
	}
	wg.Wait()
	return errs
}

func TestMissingBucketIsPermanent(t *testing.T) {
	srv := testserver.Versitygw(t)
	b, err := s3.New("pwlog-no-such-bucket", "p", options(srv))
	if err != nil {
		t.Fatal(err)
	}
	for op, err := range ops(b, "wal/1.log") {
		if err == nil {
			t.Errorf("%s on a missing bucket succeeded", op)
			continue
		}
		for _, class := range []error{backend.ErrNotExist, backend.ErrExist, backend.ErrTransient, backend.ErrBadName} {
			if errors.Is(err, class) {
				t.Errorf("%s on a missing bucket: %v; it is %v, want a permanent error", op, err, class)
			}
		}
		want := fmt.Sprintf("backend: %s wal/1.log: s3://pwlog-no-such-bucket/p/wal/1.log: NoSuchBucket", op)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s on a missing bucket: %q, want it to hold %q", op, err, want)
		}
	}
}

func TestBadCredentialsArePermanent(t *testing.T) {
	srv := testserver.Versitygw(t)
	opts := options(srv)
	opts.SecretKey += "x"
	b, err := s3.New(srv.NewBucket(t), "", opts)
	if err != nil {
		t.Fatal(err)
	}
	for op, err := range ops(b, "k") {
		if op == "delete" && err == nil {
			continue
		}
		if err == nil || errors.Is(err, backend.ErrTransient) || errors.Is(err, backend.ErrNotExist) {
			t.Errorf("%s with a bad secret: %v, want a permanent error", op, err)
		} else if !strings.Contains(err.Error(), "SignatureDoesNotMatch") && !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("%s with a bad secret: %q does not name the server's code", op, err)
		}
	}
}

func TestServerDownIsTransient(t *testing.T) {
	port, err := testserver.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3.New("bucket", "p", s3.Options{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for op, err := range ops(b, "wal/1.log") {
		if !errors.Is(err, backend.ErrTransient) {
			t.Errorf("%s with the server down: %v, want backend.ErrTransient", op, err)
		}
		if err != nil && !strings.Contains(err.Error(), "backend: "+op+" wal/1.log: s3://bucket/p/wal/1.log: ") {
			t.Errorf("%s with the server down: %q does not name the operation and object", op, err)
		}
	}
	// Each tried a few times by the SDK, with backoff.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("operations with the server down took %v", d)
	}
}

func TestCancelledMidway(t *testing.T) {
	b := newBackend(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	if err := b.Put(ctx, "k", []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put with an expired ctx: %v", err)
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ bucket, prefix, want string }{
		{"bkt", "", "s3://bkt"},
		{"bkt", "p", "s3://bkt/p"},
		{"bkt", "p/q/", "s3://bkt/p/q"},
	} {
		b, err := s3.New(tc.bucket, tc.prefix, s3.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tc.want {
			t.Errorf("New(%q, %q).String() = %q, want %q", tc.bucket, tc.prefix, got, tc.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		bucket, prefix, endpoint string
	}{
		{"", "", ""},
		{"ab", "", ""},
		{"a b c", "", ""},
		{"bkt", "a//b", ""},
		{"bkt", "../up", ""},
		{"bkt", "/abs", ""},
		{"bkt", "", "127.0.0.1:9000"},
		{"bkt", "", "ftp://127.0.0.1:9000"},
		{"bkt", "", "http://127.0.0.1:9000/path"},
	} {
		if _, err := s3.New(tc.bucket, tc.prefix, s3.Options{Endpoint: tc.endpoint}); err == nil {
			t.Errorf("New(%q, %q, endpoint %q) succeeded", tc.bucket, tc.prefix, tc.endpoint)
		}
	}
}

func TestOptionsFromEnv(t *testing.T) {
	for _, v := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
	} {
		t.Setenv(v, "")
	}
	if got := s3.OptionsFromEnv(); got != (s3.Options{}) {
		t.Fatalf("OptionsFromEnv with no variables = %+v", got)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	want := s3.Options{
		Endpoint: "http://127.0.0.1:1", Region: "eu-west-1",
		AccessKey: "AKID", SecretKey: "secret", SessionToken: "token",
	}
	if got := s3.OptionsFromEnv(); got != want {
		t.Fatalf("OptionsFromEnv = %+v, want %+v", got, want)
	}
	// The more specific variables win.
	t.Setenv("AWS_REGION", "eu-north-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2")
	want.Region, want.Endpoint = "eu-north-1", "http://127.0.0.1:2"
	if got := s3.OptionsFromEnv(); got != want {
		t.Fatalf("OptionsFromEnv = %+v, want %+v", got, want)
	}
}

// TestEnv checks that the server's Env, read back by OptionsFromEnv,
// reaches the server.
func TestEnv(t *testing.T) {
	srv := testserver.Versitygw(t)
	bucket := srv.NewBucket(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, err := s3.New(bucket, "", s3.OptionsFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, b, "k", []byte("v"))
	backendtest.MustGetEqual(t, b, "k", []byte("v"))
}

// TestServerErrors checks the class of the errors a server answers with,
// on a fake server.
func TestServerErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := func(status int, code string) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s happened</Message></Error>", code, code)
		}
		switch strings.TrimPrefix(r.URL.Path, "/bkt/") {
		case "500":
			answer(500, "InternalError")
		case "503":
			answer(503, "SlowDown")
		case "429":
			answer(429, "TooManyRequests")
		case "403":
			answer(403, "AccessDenied")
		case "cut":
			// A body shorter than its Content-Length: the connection
			// drops mid-body.
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("0123456789"))
		default:
			answer(400, "InvalidRequest")
		}
	}))
	defer srv.Close()
	b, err := s3.New("bkt", "", s3.Options{Endpoint: srv.URL, AccessKey: "a", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, tc := range []struct {
		name      string
		transient bool
		want      string
	}{
		{"500", true, "backend: get 500: s3://bkt/500: InternalError: InternalError happened"},
		{"503", true, "SlowDown"},
		{"429", true, "TooManyRequests"},
		{"cut", true, "unexpected EOF"},
		{"403", false, "backend: get 403: s3://bkt/403: AccessDenied: AccessDenied happened"},
		{"400", false, "InvalidRequest"},
	} {
		wg.Go(func() {
			_, err := b.Get(context.Background(), tc.name)
			if err == nil || errors.Is(err, backend.ErrTransient) != tc.transient ||
				errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Get(%s): %v; want transient %v, holding %q", tc.name, err, tc.transient, tc.want)
			}
		})
	}
	wg.Wait()
}
