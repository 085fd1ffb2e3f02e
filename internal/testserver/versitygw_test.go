//go:build linux

package testserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestVersitygw(t *testing.T) {
	s := Versitygw(t)
	if s2 := Versitygw(t); s2 != s {
		t.Fatal("a second call started a second server")
	}
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %s, want one on 127.0.0.1", s.Endpoint)
	}
	var b1 string
	t.Run("bucket", func(t *testing.T) {
		b1 = s.NewBucket(t)
		b2 := s.NewBucket(t)
		if b1 == b2 {
			t.Fatalf("two NewBucket calls returned %s", b1)
		}
		ok, err := s.client.BucketExists(context.Background(), b1)
		if err != nil || !ok {
			t.Fatalf("bucket %s: exists %v, %v", b1, ok, err)
		}
		if _, err := s.client.PutObject(context.Background(), b1, "a/b", strings.NewReader("x"), 1,
			minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	// The bucket's files went with the test that made it.
	if _, err := os.Stat(filepath.Join(s.root, b1)); !os.IsNotExist(err) {
		t.Fatalf("bucket %s after its test: %v", b1, err)
	}
	env := strings.Join(s.Env(), "\n")
	for _, want := range []string{"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_ACCESS_KEY_ID=" + s.AccessKey} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %s", want)
		}
	}
}
