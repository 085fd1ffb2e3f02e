//go:build linux

package testserver

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

func TestAzurite(t *testing.T) {
	a := Azurite(t)
	if b := Azurite(t); b != a {
		t.Fatal("a second call started a second server")
	}
	c1, c2 := a.NewContainer(t), a.NewContainer(t)
	if c1 == c2 {
		t.Fatalf("NewContainer returned %s twice", c1)
	}
	env := a.Env()
	if len(env) != 1 || env[0] != "AZURE_STORAGE_CONNECTION_STRING="+a.ConnectionString {
		t.Fatalf("Env() = %q", env)
	}
	// The container is there, empty, and takes a blob.
	c, err := container.NewClientFromConnectionString(a.ConnectionString, c1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	page, err := c.NewListBlobsFlatPager(nil).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Segment.BlobItems) != 0 {
		t.Fatalf("new container %s holds %d blobs", c1, len(page.Segment.BlobItems))
	}
	if _, err := c.NewBlockBlobClient("x").UploadBuffer(ctx, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if v := installedVersion(filepath.Join(dir, "azurite")); v != AzuriteVersion {
		t.Fatalf("installed azurite version %q, want %q", v, AzuriteVersion)
	}
}

// TestRunDir: runDir removes the directories of exited processes only.
func TestRunDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	live := filepath.Join(tmp, "pwlog-azurite-"+strconv.Itoa(os.Getpid())+"-1")
	dead := filepath.Join(tmp, "pwlog-azurite-"+strconv.Itoa(1<<22+12345)+"-1") // above pid_max's default
	other := filepath.Join(tmp, "pwlog-azurite-x-1")
	for _, d := range []string{live, dead, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	made, err := runDir("azurite")
	if err != nil || !strings.HasPrefix(filepath.Base(made), "pwlog-azurite-"+strconv.Itoa(os.Getpid())+"-") {
		t.Fatalf("runDir: %q, %v", made, err)
	}
	for d, want := range map[string]bool{live: true, dead: false, other: true, made: true} {
		_, err := os.Stat(d)
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v", strings.TrimPrefix(d, tmp), got, want)
		}
	}
}
