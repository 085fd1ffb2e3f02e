package location

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/backend"
)

func TestOpen(t *testing.T) {
	for _, c := range []struct {
		loc, want string // want: the backend's name, or an error's words
	}{
		{"/tmp/storage", "dir /tmp/storage"},
		{"file:///tmp/storage", "dir /tmp/storage"},
		{"s3://bucket/a/b/", "s3://bucket/a/b"},
		{"s3://bucket", "s3://bucket"},
		{"azure://container/p", "azure://container/p"},
		{"s3:///p", "no bucket"},
		{"azure://", "no container"},
		{"gs://bucket/p", `unknown scheme "gs"`},
		{"", "empty storage location"},
	} {
		b, err := Open(c.loc)
		got := ""
		switch {
		case err != nil:
			got = err.Error()
		default:
			if fs, ok := b.(*backend.Filesystem); ok {
				got = "dir " + filepath.ToSlash(fs.Root())
			} else {
				got = b.(interface{ String() string }).String()
			}
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("Open(%q) = %q, want %q", c.loc, got, c.want)
		}
		if Remote(c.loc) != (strings.Contains(c.loc, "://") && !strings.HasPrefix(c.loc, "file://")) {
			t.Errorf("Remote(%q) = %v", c.loc, Remote(c.loc))
		}
	}
	if got := LocalPath("file:///tmp/s"); got != filepath.FromSlash("/tmp/s") {
		t.Errorf("LocalPath = %q", got)
	}
	if got := LocalPath("s3://b/p"); got != "s3://b/p" {
		t.Errorf("LocalPath = %q", got)
	}
}
