//go:build linux

package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// VersitygwVersion is the versitygw release the tests run against.
const VersitygwVersion = "v1.8.0"

// versitygwModule is the package go install builds.
const versitygwModule = "github.com/versity/versitygw/cmd/versitygw"

// S3 is a running S3 server (versitygw's posix gateway) on 127.0.0.1.
type S3 struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Region is the region the server names ("us-east-1").
	Region string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey, SecretKey string

	root    string // the gateway's directory: one subdirectory per bucket
	sidecar string // the metadata directory, when the filesystem lacks user xattrs
	client  *minio.Client
	buckets atomic.Int64
}

var versitygw struct {
	once sync.Once
	s3   *S3
	err  error
}

// Versitygw returns the test process's S3 server, installing versitygw
// into CacheDir (go install, about two minutes, once per cache) and
// starting it at the first call. The server lives as long as the test
// process. It fails t if the server cannot be installed or started.
func Versitygw(t testing.TB) *S3 {
	t.Helper()
	versitygw.once.Do(func() { versitygw.s3, versitygw.err = startVersitygw() })
	if versitygw.err != nil {
		t.Fatal(versitygw.err)
	}
	return versitygw.s3
}

// installVersitygw installs versitygw into the cache, if it is not there,
// and returns the path of the binary.
func installVersitygw() (string, error) {
	var bin string
	err := withInstallLock("versitygw", func(dir string) error {
		bin = filepath.Join(dir, "bin", "versitygw-"+VersitygwVersion)
		if exists(bin) {
			return nil
		}
		// Into a directory of its own first, so that an install cut
		// short leaves no binary under the final name.
		tmp, err := os.MkdirTemp(dir, "install-versitygw-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		env := []string{"GOBIN=" + tmp, "GOFLAGS=", "GOWORK=off", "GO111MODULE=on"}
		if err := run(ctx, dir, env, "go", "install", versitygwModule+"@"+VersitygwVersion); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return err
		}
		return os.Rename(filepath.Join(tmp, "versitygw"), bin)
	})
	if err != nil {
		return "", fmt.Errorf("testserver: install versitygw %s: %w", VersitygwVersion, err)
	}
	return bin, nil
}

// startVersitygw installs versitygw and starts its posix gateway on a
// fresh directory.
func startVersitygw() (*S3, error) {
	bin, err := installVersitygw()
	if err != nil {
		return nil, err
	}
	dir, err := runDir("versitygw")
	if err != nil {
		return nil, err
	}
	s := &S3{
		Region:    "us-east-1",
		AccessKey: "pwlog" + randomHex(8),
		SecretKey: randomHex(20),
		root:      filepath.Join(dir, "root"),
	}
	if err := os.Mkdir(s.root, 0o755); err != nil {
		return nil, fmt.Errorf("testserver: versitygw: %w", err)
	}
	// The posix gateway keeps metadata (ETags, ...) in user xattrs; where
	// the filesystem has none, in a sidecar directory.
	gwArgs := []string{"posix"}
	if syscall.Setxattr(s.root, "user.pwlog-test", []byte("1"), 0) == nil {
		syscall.Removexattr(s.root, "user.pwlog-test")
	} else {
		s.sidecar = filepath.Join(dir, "meta")
		if err := os.Mkdir(s.sidecar, 0o755); err != nil {
			return nil, fmt.Errorf("testserver: versitygw: %w", err)
		}
		gwArgs = append(gwArgs, "--sidecar", s.sidecar)
	}
	gwArgs = append(gwArgs, s.root)

	// A port found free may be taken before the server binds it: try
	// again on another.
	var errs []error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("testserver: versitygw: %w", err)
		}
		args := append([]string{
			"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet",
		}, gwArgs...)
		_, err = Start(nil, 30*time.Second, port, bin, args...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
		s.client, err = minio.New(fmt.Sprintf("127.0.0.1:%d", port), &minio.Options{
			Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
			Region:       s.Region,
			BucketLookup: minio.BucketLookupPath,
		})
		if err != nil {
			return nil, fmt.Errorf("testserver: versitygw client: %w", err)
		}
		return s, nil
	}
	return nil, errors.Join(errs...)
}

// NewBucket creates a new empty bucket and returns its name. The bucket's
// files are removed when t ends.
func (s *S3) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("pwlog-%d-%s", s.buckets.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("testserver: create bucket %s on versitygw %s: %v", name, s.Endpoint, err)
	}
	t.Cleanup(func() {
		os.RemoveAll(filepath.Join(s.root, name))
		if s.sidecar != "" {
			os.RemoveAll(filepath.Join(s.sidecar, name))
		}
	})
	return name
}

// Env returns the AWS_* environment variables that point a child process
// (and s3.OptionsFromEnv) at the server, overriding any the environment
// has.
func (s *S3) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_REGION=" + s.Region,
		"AWS_DEFAULT_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
	}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
