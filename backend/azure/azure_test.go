//go:build linux

package azure_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/azure"
	"github.com/pwlog/pwlog/backend/backendtest"
	"github.com/pwlog/pwlog/internal/testserver"
)

// newBackend returns a Backend on a new container of the test process's
// Azurite, under prefix.
func newBackend(t *testing.T, prefix string) *azure.Backend {
	t.Helper()
	srv := testserver.Azurite(t)
	b, err := azure.New(srv.NewContainer(t), prefix, azure.Options{ConnectionString: srv.ConnectionString})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, "") })
}

func TestConformancePrefix(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, "stores/one") })
}

// TestPrefixIsolation checks that a prefixed Backend sees only its blobs,
// by names relative to its prefix, and that another prefix sharing the
// start of its name is not listed.
func TestPrefixIsolation(t *testing.T) {
	srv := testserver.Azurite(t)
	c := srv.NewContainer(t)
	opts := azure.Options{ConnectionString: srv.ConnectionString}
	root, _ := azure.New(c, "", opts)
	p, _ := azure.New(c, "/p/", opts)
	ctx := context.Background()
	for _, name := range []string{"p/a", "p/b/c", "px/a", "q"} {
		backendtest.MustPut(t, root, name, []byte(name))
	}
	backendtest.MustPut(t, p, "d", []byte("d"))
	backendtest.MustListEqual(t, p, "", []string{"a", "b/c", "d"})
	backendtest.MustGetEqual(t, p, "b/c", []byte("p/b/c"))
	backendtest.MustGetEqual(t, root, "p/d", []byte("d"))
	if err := p.Create(ctx, "a", nil); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("Create of p/a through the prefix: %v, want backend.ErrExist", err)
	}
	if _, err := p.Get(ctx, "q"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Get of q through the prefix: %v, want backend.ErrNotExist", err)
	}
}

// TestMissingContainer checks that every operation on a container that
// does not exist fails with a permanent error naming the operation, the
// blob and the service's code; not ErrNotExist, not ErrTransient.
func TestMissingContainer(t *testing.T) {
	srv := testserver.Azurite(t)
	b, err := azure.New("no-such-container", "p", azure.Options{ConnectionString: srv.ConnectionString})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := map[string]error{
		"put":    b.Put(ctx, "wal/1.log", []byte("x")),
		"create": b.Create(ctx, "wal/1.log", []byte("x")),
		"delete": b.Delete(ctx, "wal/1.log"),
	}
	_, errs["get"] = b.Get(ctx, "wal/1.log")
	_, errs["open"] = b.Open(ctx, "wal/1.log")
	_, errs["size"] = b.Size(ctx, "wal/1.log")
	_, errs["list"] = b.List(ctx, "wal/")
	for op, err := range errs {
		url := "azure://no-such-container/p/wal/1.log"
		if op == "list" {
			url = "azure://no-such-container/p/wal/"
		}
		switch {
		case err == nil:
			t.Errorf("%s: no error", op)
		case errors.Is(err, backend.ErrNotExist) || errors.Is(err, backend.ErrExist) ||
			errors.Is(err, backend.ErrTransient):
			t.Errorf("%s: %v is not a permanent error", op, err)
		case !strings.HasPrefix(err.Error(), "azure: "+op+" "+url+": ContainerNotFound"):
			t.Errorf("%s: error %q does not name the operation, the blob and the code", op, err)
		}
	}
	t.Log(errs["put"])
}

// TestBadCredentials checks that a wrong account key is a permanent error.
func TestBadCredentials(t *testing.T) {
	srv := testserver.Azurite(t)
	c := srv.NewContainer(t)
	bad := strings.Replace(srv.ConnectionString, "AccountKey=Eby8", "AccountKey=Xby8", 1)
	if bad == srv.ConnectionString {
		t.Fatal("the connection string has no key to spoil")
	}
	b, err := azure.New(c, "", azure.Options{ConnectionString: bad})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Put(context.Background(), "x", []byte("x"))
	if err == nil || errors.Is(err, backend.ErrTransient) || !strings.Contains(err.Error(), "azure: put azure://"+c+"/x: ") {
		t.Fatalf("Put with a bad key: %v, want a permanent error naming the operation and blob", err)
	}
	t.Log(err)
}

// TestServerDown checks that every operation against a port nobody
// listens on fails fast with a transient error.
func TestServerDown(t *testing.T) {
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b, err := azure.New("c", "", azure.Options{ConnectionString: fmt.Sprintf(
		"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;", port)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ops := map[string]func() error{
		"put":    func() error { return b.Put(ctx, "x", nil) },
		"create": func() error { return b.Create(ctx, "x", nil) },
		"delete": func() error { return b.Delete(ctx, "x") },
		"get":    func() error { _, err := b.Get(ctx, "x"); return err },
		"open":   func() error { _, err := b.Open(ctx, "x"); return err },
		"size":   func() error { _, err := b.Size(ctx, "x"); return err },
		"list":   func() error { _, err := b.List(ctx, ""); return err },
	}
	var wg sync.WaitGroup
	for op, f := range ops {
		wg.Go(func() {
			start := time.Now()
			err := f()
			took := time.Since(start)
			url := "azure://c/x"
			if op == "list" {
				url = "azure://c/"
			}
			if !errors.Is(err, backend.ErrTransient) || !strings.HasPrefix(err.Error(), "azure: "+op+" "+url) {
				t.Errorf("%s: %v, want backend.ErrTransient naming the operation and blob", op, err)
			}
			if took > 10*time.Second {
				t.Errorf("%s took %v to fail", op, took)
			}
		})
	}
	wg.Wait()
}

// TestCancelDuringRequest checks that a ctx cancelled while the SDK waits
// to retry ends the operation with the ctx's error, not ErrTransient.
func TestCancelDuringRequest(t *testing.T) {
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b, err := azure.New("c", "", azure.Options{ConnectionString: fmt.Sprintf(
		"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;", port)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = b.Put(ctx, "x", nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, backend.ErrTransient) {
		t.Fatalf("Put: %v, want context.DeadlineExceeded and not transient", err)
	}
}

func TestNew(t *testing.T) {
	cs := "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/a;"
	for _, tc := range []struct{ container, prefix, want string }{
		{"c", "", "azure://c"},
		{"c", "/", "azure://c"},
		{"c", "p", "azure://c/p"},
		{"c", "/p/q/", "azure://c/p/q"},
	} {
		b, err := azure.New(tc.container, tc.prefix, azure.Options{ConnectionString: cs})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tc.want {
			t.Errorf("New(%q, %q).String() = %q, want %q", tc.container, tc.prefix, got, tc.want)
		}
	}
	for _, tc := range []struct{ container, prefix, cs string }{
		{"", "", cs},
		{"a/b", "", cs},
		{"c", "a//b", cs},
		{"c", "../x", cs},
		{"c", "", ""},
		{"c", "", "not a connection string"},
	} {
		if _, err := azure.New(tc.container, tc.prefix, azure.Options{ConnectionString: tc.cs}); err == nil {
			t.Errorf("New(%q, %q, %q) did not fail", tc.container, tc.prefix, tc.cs)
		}
	}
	_, err := azure.New("c", "", azure.Options{ConnectionString: "AccountName=a;AccountKey=secretkey"})
	if err != nil && strings.Contains(err.Error(), "secretkey") {
		t.Errorf("error %q shows the key", err)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=x;AccountKey=eQ==")
	if got := azure.OptionsFromEnv(); got.ConnectionString != "AccountName=x;AccountKey=eQ==" {
		t.Errorf("OptionsFromEnv() = %+v", got)
	}
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	if got := azure.OptionsFromEnv(); got != (azure.Options{}) {
		t.Errorf("OptionsFromEnv() with nothing set = %+v", got)
	}
}

// TestEnv checks that the server's environment gives OptionsFromEnv its
// connection string.
func TestEnv(t *testing.T) {
	srv := testserver.Azurite(t)
	env := srv.Env()
	if len(env) != 1 {
		t.Fatalf("Env() = %q", env)
	}
	k, v, _ := strings.Cut(env[0], "=")
	t.Setenv(k, v)
	b, err := azure.New(srv.NewContainer(t), "", azure.OptionsFromEnv())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, b, "a", []byte("a"))
	backendtest.MustGetEqual(t, b, "a", []byte("a"))
}

// TestErrorClasses checks the class of the errors a fake blob service
// answers with: server errors, throttling, a body cut short and a body
// that does not match its MD5 are transient; access denied is permanent.
func TestErrorClasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blobName := path.Base(r.URL.Path)
		fail := func(status int, code string) {
			w.Header().Set("x-ms-error-code", code)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			if r.Method != http.MethodHead {
				fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s message\nRequestId:1</Message></Error>", code, code)
			}
		}
		switch blobName {
		case "busy":
			fail(http.StatusServiceUnavailable, "ServerBusy")
		case "internal":
			fail(http.StatusInternalServerError, "InternalError")
		case "throttled":
			fail(http.StatusTooManyRequests, "TooManyRequests")
		case "denied":
			fail(http.StatusForbidden, "AuthorizationPermissionMismatch")
		case "short":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("only ten b"))
		case "badmd5":
			sum := md5.Sum([]byte("other bytes"))
			w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("bytes"))
		default:
			fail(http.StatusNotFound, "BlobNotFound")
		}
	}))
	t.Cleanup(srv.Close)
	b, err := azure.New("c", "p", azure.Options{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=" + srv.URL + "/devstoreaccount1;"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		op        func(name string) error
		transient bool
		msg       string
	}{
		{"busy", func(n string) error { return b.Put(ctx, n, nil) }, true, "ServerBusy: ServerBusy message"},
		{"internal", func(n string) error { _, err := b.Get(ctx, n); return err }, true, "InternalError"},
		{"throttled", func(n string) error { return b.Create(ctx, n, nil) }, true, "TooManyRequests"},
		{"busy", func(n string) error { _, err := b.Size(ctx, n); return err }, true, "ServerBusy"},
		{"short", func(n string) error { _, err := b.Get(ctx, n); return err }, true, "unexpected EOF"},
		{"short", func(n string) error { _, err := b.Open(ctx, n); return err }, true, "unexpected EOF"},
		{"badmd5", func(n string) error { _, err := b.Get(ctx, n); return err }, true, "Content-MD5"},
		{"denied", func(n string) error { return b.Delete(ctx, n) }, false, "AuthorizationPermissionMismatch: AuthorizationPermissionMismatch message"},
		{"denied", func(n string) error { _, err := b.Size(ctx, n); return err }, false, "AuthorizationPermissionMismatch: Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.op(tc.name)
			if err == nil || errors.Is(err, backend.ErrTransient) != tc.transient ||
				!strings.HasPrefix(err.Error(), "azure: ") || !strings.Contains(err.Error(), "azure://c/p/"+tc.name+": ") ||
				!strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v; want transient %v, naming the blob, with %q", err, tc.transient, tc.msg)
			}
			t.Log(err)
			var re *azcore.ResponseError
			if errors.As(err, &re) != (tc.name != "short" && tc.name != "badmd5") {
				t.Errorf("err %v: wraps an *azcore.ResponseError: %v", err, re != nil)
			}
		})
	}
}
